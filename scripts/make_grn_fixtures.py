#!/usr/bin/env python3
"""Reference values for tests/test_grn.c: average precision by sklearn and precision at k by
numpy, on random scores (some with ties) and labels.

Writes tests/fixtures/grn/metrics.txt, per case:
  case N K          (K = number of positives, the k of precision at k)
  s ...             scores (repr)
  l ...             labels 0/1
  ap AP             sklearn.metrics.average_precision_score(l, s)
  pk P              positives among the K highest scores (ties: lower index first) / K
Usage: .venv/bin/python scripts/make_grn_fixtures.py
"""
import os

import numpy as np
from sklearn.metrics import average_precision_score

out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "grn")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261202)
with open(os.path.join(out, "metrics.txt"), "w") as f:
    for case in range(12):
        n = int(rng.integers(5, 300))
        if case % 3 == 0:
            s = np.round(rng.random(n), 1)  # many ties
        else:
            s = rng.normal(size=n)
        p = rng.random() * 0.3 + 0.02
        l = (rng.random(n) < p + 0.3 * (s > np.median(s))).astype(int)
        if l.sum() == 0:
            l[0] = 1
        k = int(l.sum())
        ap = average_precision_score(l, s)
        order = np.argsort(-s, kind="stable")
        pk = l[order[:k]].sum() / k
        f.write("case %d %d\n" % (n, k))
        f.write("s " + " ".join(repr(float(x)) for x in s) + "\n")
        f.write("l " + " ".join(str(int(x)) for x in l) + "\n")
        f.write("ap %r\npk %r\n" % (float(ap), float(pk)))
print("wrote", os.path.join(out, "metrics.txt"))
