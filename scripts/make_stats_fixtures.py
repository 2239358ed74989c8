#!/usr/bin/env python3
"""Reference values for tests/test_stats.c, computed with scipy (independent of scfm).

Writes tests/fixtures/stats/{ranksum,bh,rankdata,metrics}.txt. Every record is one line:
a keyword followed by whitespace-separated numbers printed with repr (17 significant digits).

  ranksum.txt   per case:  case NAME / x ... / y ... /
                rs Z P        scipy.stats.ranksums(x, y)
                mwu U P       scipy.stats.mannwhitneyu(x, y, method='asymptotic', use_continuity=False)
                mwucc U P     the same with use_continuity=True
                (P = nan when scipy returns nan: the all-tied case)
  rankdata.txt  v ... / r ... (scipy.stats.rankdata) / tie T (sum t^3 - t)
  bh.txt        p ... / q ... (scipy.stats.false_discovery_control(p, method='bh'))
  metrics.txt   C / truth ... / pred ... / cm ... / prec ... / rec ... / f1 ... / acc / macro
                (computed with numpy from the definitions; sklearn's conventions)

Usage: .venv/bin/python scripts/make_stats_fixtures.py [OUTDIR]
"""
import os
import sys

import numpy as np
import scipy
import scipy.stats as ss

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "stats")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20240605)


def fmt(vals):
    return " ".join(repr(float(v)) for v in np.atleast_1d(vals))


cases = []
cases.append(("normal_no_ties", rng.normal(size=17), rng.normal(0.4, 1.0, size=23)))
cases.append(("integers_many_ties", rng.integers(0, 5, size=40).astype(float), rng.integers(1, 6, size=31).astype(float)))
cases.append(("tiny_p", rng.normal(3.0, 1.0, size=300), rng.normal(0.0, 1.0, size=250)))
cases.append(("small_ties", np.array([1.0, 2.0, 2.0, 3.0]), np.array([2.0, 2.0, 4.0])))
cases.append(("one_vs_many", np.array([0.7]), rng.normal(size=12)))
cases.append(("rounded_large", np.round(rng.normal(0.1, 1.0, size=600), 1), np.round(rng.normal(0.0, 1.0, size=800), 1)))
cases.append(("cosine_like", 1 - np.abs(rng.normal(0, 0.01, size=50)), 1 - np.abs(rng.normal(0, 0.012, size=2000))))
cases.append(("x_smaller", rng.normal(-1.0, 1.0, size=30), rng.normal(0.0, 1.0, size=20)))
cases.append(("all_tied", np.full(5, 2.0), np.full(4, 2.0)))

with open(os.path.join(out, "ranksum.txt"), "w") as f:
    f.write("# scipy %s, numpy %s; see scripts/make_stats_fixtures.py\n" % (scipy.__version__, np.__version__))
    for name, x, y in cases:
        f.write("case %s\n" % name)
        f.write("x %s\n" % fmt(x))
        f.write("y %s\n" % fmt(y))
        with np.errstate(all="ignore"):
            r = ss.ranksums(x, y)
            m = ss.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=False)
            mc = ss.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
        f.write("rs %s\n" % fmt([r.statistic, r.pvalue]))
        f.write("mwu %s\n" % fmt([m.statistic, m.pvalue]))
        f.write("mwucc %s\n" % fmt([mc.statistic, mc.pvalue]))

with open(os.path.join(out, "rankdata.txt"), "w") as f:
    for v in [np.array([3.0, 1.0, 2.0, 3.0, 3.0, -1.0, 2.0]), rng.integers(0, 10, size=50).astype(float)]:
        r = ss.rankdata(v)
        _, t = np.unique(v, return_counts=True)
        f.write("v %s\nr %s\ntie %s\n" % (fmt(v), fmt(r), fmt([float((t.astype(float) ** 3 - t).sum())])))

def bh_reference(p):
    """scipy.stats.false_discovery_control(p, method='bh') when scipy has it (>= 1.11);
    otherwise the same algorithm as statsmodels' multipletests(method='fdr_bh'), in numpy."""
    if hasattr(ss, "false_discovery_control"):
        return ss.false_discovery_control(p, method="bh")
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    m = len(ps)
    adj = np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.clip(adj, 0, 1)
    return q


with open(os.path.join(out, "bh.txt"), "w") as f:
    sets = [
        rng.uniform(size=30),
        np.concatenate([rng.uniform(0, 1e-4, size=10), rng.uniform(size=40)]),
        np.array([0.01, 0.04, 0.04, 0.03, 0.5, 1.0, 0.0, 0.2]),
        np.array([0.9]),
        10 ** rng.uniform(-30, 0, size=200),
    ]
    for p in sets:
        q = bh_reference(p)
        f.write("p %s\nq %s\n" % (fmt(p), fmt(q)))


def metrics(truth, pred, C):
    cm = np.zeros((C, C), dtype=np.int64)
    np.add.at(cm, (truth, pred), 1)
    tp = np.diag(cm).astype(float)
    col = cm.sum(0).astype(float)
    row = cm.sum(1).astype(float)
    prec = np.divide(tp, col, out=np.zeros(C), where=col > 0)
    rec = np.divide(tp, row, out=np.zeros(C), where=row > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(C), where=(prec + rec) > 0)
    present = (row > 0) | (col > 0)
    return cm, prec, rec, f1, float((truth == pred).mean()), float(f1[present].mean())


with open(os.path.join(out, "metrics.txt"), "w") as f:
    for C, n in [(3, 40), (6, 200), (5, 30)]:
        truth = rng.integers(0, C - 1 if C == 5 else C, size=n)  # C=5: class 4 never true
        pred = np.where(rng.uniform(size=n) < 0.6, truth, rng.integers(0, C, size=n))
        cm, prec, rec, f1, acc, macro = metrics(truth, pred, C)
        try:  # cross-check with sklearn when it is installed
            from sklearn.metrics import f1_score
            assert abs(f1_score(truth, pred, average="macro") - macro) < 1e-12
        except ImportError:
            pass
        f.write("C %d\ntruth %s\npred %s\ncm %s\nprec %s\nrec %s\nf1 %s\nacc %s\nmacro %s\n"
                % (C, fmt(truth), fmt(pred), fmt(cm.ravel()), fmt(prec), fmt(rec), fmt(f1), fmt([acc]), fmt([macro])))
print("wrote", out)
