#!/usr/bin/env python3
"""Write golden.json from fixtures.json with Google's rouge-score package.

For every candidate set: rouge_l is the mean over the pairs i < j of
RougeScorer(['rougeL']).score(texts[i], texts[j]).fmeasure (default
tokenizer, no stemmer); distinct_n (n = 1, 2, 3) is unique / total n-grams,
taken within each text, with the same tokenizer, pooled over the set.
None stands for nil: rouge_l with fewer than 2 texts, distinct_n when
there are no n-grams at all. The texts are copied into golden.json so that
check_diversity can tell a stale golden file from a current one.
"""
import json
import os

from rouge_score import rouge_scorer, tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    with open(os.path.join(HERE, "fixtures.json"), encoding="utf-8") as f:
        sets = json.load(f)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    tok = tokenizers.DefaultTokenizer(use_stemmer=False)
    out = []
    for s in sets:
        texts = s["texts"]
        k = len(texts)
        rouge_l = None
        if k >= 2:
            total = 0.0
            for i in range(k):
                for j in range(i + 1, k):
                    total += scorer.score(texts[i], texts[j])["rougeL"].fmeasure
            rouge_l = total / (k * (k - 1) / 2)
        toks = [tok.tokenize(t) for t in texts]
        row = {"name": s["name"], "texts": texts, "rouge_l": rouge_l}
        for n in (1, 2, 3):
            grams = [tuple(t[p:p + n]) for t in toks
                     for p in range(len(t) - n + 1)]
            row["distinct_%d" % n] = \
                len(set(grams)) / len(grams) if grams else None
        row["ntokens"] = [len(t) for t in toks]
        out.append(row)
    with open(os.path.join(HERE, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
