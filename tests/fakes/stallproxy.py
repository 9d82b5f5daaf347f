#!/usr/bin/env python3
"""stallproxy: a loopback TCP proxy that can stop forwarding mid-reply.

vsampd's tests put it between the daemon and a plain-HTTP backend to make
a reply stall half-way through its body while the connection stays open,
which a server that merely sleeps before answering cannot do (that is a
slow model, not a stall). Python 3 standard library only.

    stallproxy.py --upstream 127.0.0.1:PORT [--port N] [--parent-pid PID]

Prints "PORT n" on stdout, then reads commands on stdin, one a line, and
answers each with one "OK ..." or "ERR ..." line:

  pass        forward everything, both ways (the default)
  stall N     from the next connection on: forward the upstream reply's
              status line and headers and N bytes of its body, then stop
              forwarding towards the client. Nothing is closed; what the
              upstream sends after that is read and held back.
  stats       OK conns=A stalled=B open=C
  quit        exit

The mode is taken when a connection is accepted. Events are printed as
they happen ("EVENT ..."), each with the connection number:

  EVENT open ID
  EVENT stalled ID body=N            forwarding stopped
  EVENT closed ID by=client|upstream held=BYTES stalled_for=SECONDS|-

stalled_for is the time from the stall to the close (a client that gives
up on a stalled reply shows how long it waited). EOF on stdin, SIGTERM or
the death of --parent-pid stop it. It binds to 127.0.0.1 only.
"""

import argparse
import os
import select
import socket
import sys
import threading
import time

BUF = 65536
# A reply's head larger than this is not HTTP as we know it: pass it on.
MAX_HEAD = 65536


class Proxy:
    def __init__(self, upstream):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.stall_after = None     # None: pass; N: stall after N body bytes
        self.conns = 0
        self.stalled = 0
        self.open = 0

    def say(self, line):
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def serve(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                self.open += 1
                cid = self.conns
                mode = self.stall_after
            threading.Thread(target=self.relay, args=(c, cid, mode),
                             daemon=True).start()

    def relay(self, c, cid, stall_after):
        self.say("EVENT open %d" % cid)
        try:
            u = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            c.close()
            with self.lock:
                self.open -= 1
            self.say("EVENT closed %d by=upstream held=0 stalled_for=-" %
                     cid)
            return
        u.settimeout(None)
        seen = b""          # the reply's head, until its end is found
        headlen = None      # bytes up to and including the blank line
        sent = 0            # reply bytes forwarded
        held = 0            # reply bytes read after the stall
        stalled_at = None
        by = "client"
        try:
            while True:
                r, _, _ = select.select([c, u], [], [])
                if c in r:
                    data = c.recv(BUF)
                    if not data:
                        break
                    if stalled_at is None:
                        u.sendall(data)
                if u in r:
                    data = u.recv(BUF)
                    if not data:
                        by = "upstream"
                        break
                    if stalled_at is not None:
                        held += len(data)
                        continue
                    if stall_after is not None and headlen is None:
                        seen += data
                        end = seen.find(b"\r\n\r\n")
                        if end >= 0:
                            headlen = end + 4
                        elif len(seen) > MAX_HEAD:
                            stall_after = None      # not HTTP: pass
                    out, rest = data, b""
                    if headlen is not None:
                        n = max(0, headlen + stall_after - sent)
                        out, rest = data[:n], data[n:]
                    c.sendall(out)
                    sent += len(out)
                    if headlen is not None and \
                            sent >= headlen + stall_after:
                        held += len(rest)
                        stalled_at = time.monotonic()
                        with self.lock:
                            self.stalled += 1
                        self.say("EVENT stalled %d body=%d" % (
                            cid, sent - headlen))
        except OSError:
            pass
        finally:
            for s in (c, u):
                try:
                    s.close()
                except OSError:
                    pass
            with self.lock:
                self.open -= 1
            self.say("EVENT closed %d by=%s held=%d stalled_for=%s" % (
                cid, by, held, "-" if stalled_at is None else
                "%.3f" % (time.monotonic() - stalled_at)))

    def command(self, line):
        words = line.split()
        if not words:
            return "ERR empty command"
        if words[0] == "pass" and len(words) == 1:
            with self.lock:
                self.stall_after = None
            return "OK pass"
        if words[0] == "stall" and len(words) == 2 and words[1].isdigit():
            with self.lock:
                self.stall_after = int(words[1])
            return "OK stall %d" % int(words[1])
        if words[0] == "stats" and len(words) == 1:
            with self.lock:
                return "OK conns=%d stalled=%d open=%d" % (
                    self.conns, self.stalled, self.open)
        return "ERR unknown command %r" % line


def parse_hostport(s):
    host, _, port = s.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise argparse.ArgumentTypeError("want 127.0.0.1:PORT")
    return host, int(port)


def watch_parent(pid):
    while True:
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", type=parse_hostport, required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--parent-pid", type=int)
    args = ap.parse_args(argv)

    proxy = Proxy(args.upstream)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(128)
    threading.Thread(target=proxy.serve, args=(lsock,), daemon=True).start()
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,),
                         daemon=True).start()
    proxy.say("PORT %d" % lsock.getsockname()[1])
    for line in sys.stdin:
        line = line.strip()
        if line == "quit":
            proxy.say("OK quit")
            break
        proxy.say(proxy.command(line))
    lsock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
