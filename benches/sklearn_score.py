"""A pandas + scikit-learn scoring program, for comparison with `tailboard score`.

What a typical CodaLab scoring script for CXR-LT does: read both CSVs with pandas, align the
rows on dicom_id, then per label average_precision_score, roc_auc_score, F1 at p > 0.5 and a
15-bin ECE; macro means over labels with positives and negatives. Writes scores.json to
OUTPUT so that benches/compare.sh can check the two programs agree.

Usage: python3 sklearn_score.py INPUT OUTPUT [--bootstrap B]
(INPUT/ref/labels.csv, INPUT/res/*.csv; B replicates of the macro mAP/mAUROC by resampling
images, as a naive loop calling scikit-learn per replicate.)
"""

import glob
import json
import os
import sys

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score


def ece(y, p, bins=15):
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins)
    total = 0.0
    for b in range(bins + 1):
        m = idx == b
        if m.any():
            total += m.sum() / len(p) * abs(y[m].mean() - p[m].mean())
    return total


def macro(y, p):
    aps, aucs = [], []
    for k in range(y.shape[1]):
        if 0 < y[:, k].sum() < len(y):
            aps.append(average_precision_score(y[:, k], p[:, k]))
            aucs.append(roc_auc_score(y[:, k], p[:, k]))
    return np.mean(aps), np.mean(aucs)


def main():
    inp, out = sys.argv[1], sys.argv[2]
    replicates = int(sys.argv[sys.argv.index("--bootstrap") + 1]) if "--bootstrap" in sys.argv else 0
    ref = pd.read_csv(os.path.join(inp, "ref", "labels.csv"))
    sub = pd.read_csv(glob.glob(os.path.join(inp, "res", "*.csv"))[0])
    labels = [c for c in ref.columns if c not in ("dicom_id", "study_id", "subject_id", "path")]
    sub = sub.set_index("dicom_id").loc[ref["dicom_id"]]
    y = ref[labels].to_numpy()
    p = sub[labels].to_numpy(dtype=np.float64)
    aps, aucs, f1s, eces = [], [], [], []
    for k in range(len(labels)):
        if not 0 < y[:, k].sum() < len(y):
            continue
        aps.append(average_precision_score(y[:, k], p[:, k]))
        aucs.append(roc_auc_score(y[:, k], p[:, k]))
        f1s.append(f1_score(y[:, k], (p[:, k] > 0.5).astype(int), zero_division=0))
        eces.append(ece(y[:, k], p[:, k]))
    scores = {
        "mAP": float(np.mean(aps)),
        "mAUROC": float(np.mean(aucs)),
        "mF1": float(np.mean(f1s)),
        "mECE": float(np.mean(eces)),
    }
    if replicates:
        rng = np.random.default_rng(0)
        reps = []
        for _ in range(replicates):
            i = rng.integers(0, len(y), len(y))
            reps.append(macro(y[i], p[i]))
        reps = np.array(reps)
        scores["mAP_ci_low"], scores["mAP_ci_high"] = np.percentile(reps[:, 0], [2.5, 97.5])
        scores["mAUROC_ci_low"], scores["mAUROC_ci_high"] = np.percentile(reps[:, 1], [2.5, 97.5])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "scores.json"), "w") as f:
        json.dump({k: float(v) for k, v in scores.items()}, f)


if __name__ == "__main__":
    main()
