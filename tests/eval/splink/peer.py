#!/usr/bin/env python3
"""Splink 5 (DuckDB) peer for the base-address matching evaluation.

peer.py --calib DIR_A --report DIR_B --out predictions.csv [--threads 2]
peer.py --report DIR_B --split --out predictions.csv        (calibrate on half of DIR_B's queries)

Trains a Fellegi-Sunter model (u by random sampling, lambda + m by EM) on the
calibration set, tunes the decision threshold on it (max F1 of the
top-1-candidate-or-NEW decision), then applies model + threshold unchanged to
the report set.  Truth labels are used only to evaluate / pick the threshold /
(optionally) estimate m on the calibration set.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import resource
import sys
import threading
import time
from collections import defaultdict

import duckdb
import pyarrow as pa

import splink
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import addr  # noqa: E402

LOG = logging.getLogger("peer")
FEATURES = ["street_num", "house_name", "street_core", "street_type", "street_full", "street_compact", "street_tokens", "street_key",
            "street_sdx", "street_first_sdx", "hn", "hn_suffix", "sub", "pc", "pc_coarse", "city",
            "city_sdx", "country"]


# --------------------------------------------------------------------------
# IO + preprocessing
# --------------------------------------------------------------------------
def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _std_chunk(rows):
    return [addr.standardise(r[0], r[1], r[2], r[3]) for r in rows]


def standardise_all(rows, threads):
    tuples = [(r.get("street") or "", r.get("postal_code") or "", r.get("city") or "", r.get("country") or "")
              for r in rows]
    if threads > 1 and len(tuples) > 20000:
        n = max(1, len(tuples) // (threads * 8))
        chunks = [tuples[i:i + n] for i in range(0, len(tuples), n)]
        # plain fork is safe here: all standardisation happens before any DuckDB
        # connection (and its thread pool) exists
        import multiprocessing as mp
        with mp.get_context("fork").Pool(threads) as p:
            out = []
            for part in p.imap(_std_chunk, chunks):
                out.extend(part)
        return out
    return _std_chunk(tuples)


def to_arrow(ids, feats):
    cols = {"unique_id": pa.array(ids, pa.string())}
    for f in FEATURES:
        if f == "street_tokens":
            cols[f] = pa.array([d[f] for d in feats], pa.list_(pa.string()))
        else:
            cols[f] = pa.array([d[f] for d in feats], pa.string())
    return pa.table(cols)


class DataSet:
    def __init__(self, name, base_rows, query_rows, threads):
        t0 = time.time()
        self.name = name
        self.base_ids = [r["id"] for r in base_rows]
        self.queries = query_rows
        bf = standardise_all(base_rows, threads)
        qf = standardise_all(query_rows, threads)
        self.base_tbl = to_arrow(self.base_ids, bf)
        self.q_tbl = to_arrow([r["qid"] for r in query_rows], qf)
        self.prep_seconds = time.time() - t0
        LOG.info("%s: standardised %d base + %d queries in %.1fs", name, len(base_rows), len(query_rows),
                 self.prep_seconds)


# --------------------------------------------------------------------------
# model specification
# --------------------------------------------------------------------------
def _lvl(sql, label, **kw):
    d = {"sql_condition": sql, "label_for_charts": label}
    d.update(kw)
    return d


def comparisons():
    street = cl.CustomComparison(
        output_column_name="street",
        comparison_levels=[
            _lvl("street_compact_l IS NULL OR street_compact_r IS NULL", "null", is_null_level=True),
            _lvl("coalesce(street_num_l, '') <> coalesce(street_num_r, '')",
                 "numbers in the name differ (2nd vs 6th)"),
            _lvl("street_core_l = street_core_r", "core exact", tf_adjustment_column="street_core",
                 tf_adjustment_weight=0.5),
            _lvl("street_compact_l = street_compact_r", "compact exact (spacing/diacritics/stopwords)"),
            _lvl("damerau_levenshtein(street_compact_l, street_compact_r) <= 1", "compact DL<=1"),
            _lvl("jaro_winkler_similarity(street_compact_l, street_compact_r) >= 0.93 "
                 "OR damerau_levenshtein(street_compact_l, street_compact_r) <= 2", "compact JW>=0.93 or DL<=2"),
            _lvl("jaro_winkler_similarity(street_full_l, street_full_r) >= 0.90", "full name JW>=0.90"),
            _lvl("jaro_winkler_similarity(street_compact_l, street_compact_r) >= 0.82 "
                 "OR len(list_intersect(street_tokens_l, street_tokens_r)) * 2 >= "
                 "least(len(street_tokens_l), len(street_tokens_r)) + 1", "JW>=0.82 or token overlap"),
            _lvl("ELSE", "different"),
        ],
    )
    stype = cl.CustomComparison(
        output_column_name="street_type",
        comparison_levels=[
            _lvl("street_type_l IS NULL OR street_type_r IS NULL", "null", is_null_level=True),
            _lvl("street_type_l = street_type_r", "type same"),
            _lvl("ELSE", "type differs (sibling street)"),
        ],
    )
    # street type and house number are modelled jointly: whether the same number on a
    # street with the same name but another type word is a match depends on both.
    tc = "(street_type_l IS NULL OR street_type_r IS NULL OR street_type_l = street_type_r)"
    house = cl.CustomComparison(
        output_column_name="house",
        comparison_levels=[
            _lvl("hn_l IS NULL AND hn_r IS NULL", "no number on either side", is_null_level=True),
            _lvl("hn_l IS NULL OR hn_r IS NULL", "number on one side only"),
            _lvl(f"{tc} AND hn_l = hn_r AND coalesce(sub_l, '') = coalesce(sub_r, '')",
                 "number + suffix/unit exact"),
            _lvl(f"{tc} AND hn_l = hn_r AND (sub_l IS NULL OR sub_r IS NULL)",
                 "number exact, suffix/unit on one side only"),
            _lvl(f"{tc} AND hn_l = hn_r", "number exact, suffix/unit differ"),
            _lvl(f"{tc} AND damerau_levenshtein(hn_l, hn_r) <= 1 AND length(hn_l) >= 2 AND length(hn_r) >= 2",
                 "number one edit apart"),
            _lvl(f"{tc}", "number differs"),
            _lvl("hn_l = hn_r", "street type differs, same number (sibling street)"),
            _lvl("ELSE", "street type differs, number differs"),
        ],
    )
    hname = cl.CustomComparison(
        output_column_name="house_name",
        comparison_levels=[
            _lvl("house_name_l IS NULL OR house_name_r IS NULL", "null / one side only", is_null_level=True),
            _lvl("house_name_l = house_name_r OR jaro_winkler_similarity(house_name_l, house_name_r) >= 0.92",
                 "same house name"),
            _lvl("ELSE", "different house name"),
        ],
    )
    postcode = cl.CustomComparison(
        output_column_name="postcode",
        comparison_levels=[
            _lvl("pc_l IS NULL OR pc_r IS NULL", "null", is_null_level=True),
            _lvl("pc_l = pc_r", "exact"),
            _lvl("damerau_levenshtein(pc_l, pc_r) <= 1 AND length(pc_l) >= 4", "one edit"),
            _lvl("pc_coarse_l = pc_coarse_r", "same district/sector"),
            _lvl("ELSE", "different"),
        ],
    )
    city = cl.CustomComparison(
        output_column_name="city",
        comparison_levels=[
            _lvl("city_l IS NULL OR city_r IS NULL", "null", is_null_level=True),
            _lvl("city_l = city_r", "exact", tf_adjustment_column="city", tf_adjustment_weight=0.5),
            _lvl("jaro_winkler_similarity(city_l, city_r) >= 0.92 OR city_sdx_l = city_sdx_r "
                 "OR starts_with(city_l, city_r || ' ') OR starts_with(city_r, city_l || ' ')",
                 "fuzzy / district suffix"),
            _lvl("ELSE", "different"),
        ],
    )
    country = cl.CustomComparison(
        output_column_name="country",
        comparison_levels=[
            _lvl("country_l IS NULL OR country_r IS NULL", "null", is_null_level=True),
            _lvl("country_l = country_r", "exact"),
            _lvl("ELSE", "different"),
        ],
    )
    return [street, stype, house, hname, postcode, city, country] if SEPARATE_TYPE else \
        [street, house, hname, postcode, city, country]


DEBUG_GAMMAS = False
U_MAX_PAIRS = 1e7
CONDITIONAL_HOUSE_U = True
SEPARATE_TYPE = False

EM_RULES = [
    block_on("pc", "hn"),                      # -> street, street_type, city, country
    block_on("street_compact", "city", "hn"),  # -> postcode, street_type, country
    block_on("street_compact", "pc"),          # -> house, city, street_type, country
]

BLOCKING_RULES = [
    "l.pc = r.pc AND l.hn = r.hn",
    "l.pc = r.pc AND l.street_key = r.street_key",
    "l.city = r.city AND l.hn = r.hn",
    "l.street_compact = r.street_compact AND l.hn = r.hn",
    "l.street_sdx = r.street_sdx AND l.hn = r.hn AND l.country = r.country",
    "l.pc_coarse = r.pc_coarse AND l.hn = r.hn AND l.street_first_sdx = r.street_first_sdx",
    "l.city_sdx = r.city_sdx AND l.street_key = r.street_key AND l.country = r.country",
    "l.pc = r.pc AND (l.hn IS NULL OR r.hn IS NULL)",  # house-name-only addresses
]


def settings():
    return SettingsCreator(
        link_type="link_only",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=BLOCKING_RULES,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=DEBUG_GAMMAS,
        additional_columns_to_retain=[],
        max_iterations=30,
        em_convergence=1e-4,
    )


# --------------------------------------------------------------------------
# Splink plumbing
# --------------------------------------------------------------------------
def make_linker(ds: DataSet, settings_obj, threads, query_subset=None):
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    con.execute("SET preserve_insertion_order=false")
    db = DuckDBAPI(con)
    q_tbl = ds.q_tbl
    if query_subset is not None:
        mask = pa.array([qid in query_subset for qid in q_tbl.column("unique_id").to_pylist()])
        q_tbl = q_tbl.filter(mask)
    b = db.register(ds.base_tbl, dataset_display_name="base")
    q = db.register(q_tbl, dataset_display_name="queries")
    linker = Linker([b, q], settings_obj, log_level=logging.WARNING)
    return linker, con


def top1(linker, con):
    """predict all blocked pairs; return {qid: (base_id, match_weight, match_probability)} and pair set"""
    t0 = time.time()
    pred = linker.inference.predict(warning_mode="never")
    tn = pred.physical_name
    cols = [r[0] for r in con.execute(f"DESCRIBE {tn}").fetchall()]
    n_pairs = con.execute(f"SELECT count(*) FROM {tn}").fetchall()[0][0]
    sql = f"""
      WITH p AS (
        SELECT CASE WHEN source_dataset_l = 'queries' THEN unique_id_l ELSE unique_id_r END AS qid,
               CASE WHEN source_dataset_l = 'queries' THEN unique_id_r ELSE unique_id_l END AS bid,
               match_weight, match_probability
        FROM {tn})
      SELECT qid, bid, match_weight, match_probability FROM p
      QUALIFY row_number() OVER (PARTITION BY qid ORDER BY match_weight DESC, bid) = 1
    """
    best = {r[0]: (r[1], r[2], r[3]) for r in con.execute(sql).fetchall()}
    LOG.info("predict: %d blocked pairs scored in %.1fs (columns: %s)", n_pairs, time.time() - t0,
             ",".join(c for c in cols if c.startswith(("source", "unique", "match"))))
    return best, tn, n_pairs


def blocking_recall(con, tn, truth):
    """share of linkable queries whose true base record is among the blocked pairs"""
    pos = [(q, t) for q, t in truth.items() if t != "NEW"]
    con.register("_truth_pairs", pa.table({"q": [p[0] for p in pos], "b": [p[1] for p in pos]}))
    hit = con.execute(f"""
        WITH p AS (SELECT CASE WHEN source_dataset_l = 'queries' THEN unique_id_l ELSE unique_id_r END AS q,
                          CASE WHEN source_dataset_l = 'queries' THEN unique_id_r ELSE unique_id_l END AS b
                   FROM {tn})
        SELECT count(*) FROM _truth_pairs t SEMI JOIN p ON t.q = p.q AND t.b = p.b
    """).fetchall()[0][0]
    con.unregister("_truth_pairs")
    return hit / max(1, len(pos)), len(pos) - hit


# --------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------
def decide(best, qids, thr_w):
    out = {}
    for q in qids:
        b = best.get(q)
        if b is not None and b[1] is not None and b[1] >= thr_w:
            out[q] = (b[0], b[2])
        else:
            out[q] = ("NEW", b[2] if b else 0.0)
    return out


def prf(pred, truth, classes=None):
    def score(keys):
        tp = fp = fn = 0
        for q in keys:
            p, t = pred[q][0], truth[q]
            if p != "NEW" and p == t:
                tp += 1
            if p != "NEW" and p != t:
                fp += 1
            if t != "NEW" and p != t:
                fn += 1
        P = tp / (tp + fp) if tp + fp else 1.0
        R = tp / (tp + fn) if tp + fn else 1.0
        F = 2 * P * R / (P + R) if P + R else 0.0
        return {"n": len(keys), "tp": tp, "fp": fp, "fn": fn, "precision": round(P, 5), "recall": round(R, 5),
                "f1": round(F, 5)}

    res = {"overall": score(list(pred))}
    if classes:
        by = defaultdict(list)
        for q in pred:
            by[classes[q]].append(q)
        res["per_class"] = {c: score(v) for c, v in sorted(by.items())}
        by1 = defaultdict(list)
        for q in pred:
            by1[(classes[q] or "").split("+")[0]].append(q)
        res["per_primary_class"] = {c: score(v) for c, v in sorted(by1.items())}
    return res


def tune_threshold(best, truth):
    """max F1 over thresholds on the top-1 match weight (predict if weight >= thr)"""
    n_pos = sum(1 for t in truth.values() if t != "NEW")
    cands = sorted(((b[1], b[0] == truth[q]) for q, b in best.items() if q in truth and b[1] is not None),
                   key=lambda x: -x[0])
    tp = fp = 0
    best_f1, best_thr = -1.0, float("inf")
    i = 0
    while i < len(cands):
        w = cands[i][0]
        while i < len(cands) and cands[i][0] == w:
            if cands[i][1]:
                tp += 1
            else:
                fp += 1
            i += 1
        fn = n_pos - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1:
            nxt = cands[i][0] if i < len(cands) else w - 1.0
            best_f1, best_thr = f1, (w + nxt) / 2.0
    return best_thr, best_f1


def prob_from_weight(w):
    return 1.0 / (1.0 + 2.0 ** (-w))


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------
def train_u(ds: DataSet, threads, query_subset):
    """lambda from a deterministic rule + u by random sampling (shared by all variants)"""
    t0 = time.time()
    linker, con = make_linker(ds, settings(), threads, query_subset)
    linker.training.estimate_probability_two_random_records_match(
        ["l.pc = r.pc AND l.hn = r.hn AND l.street_compact = r.street_compact "
         "AND coalesce(l.sub,'') = coalesce(r.sub,'')"],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=42)
    model = linker.misc.save_model_to_json()
    if CONDITIONAL_HOUSE_U:
        conditional_house_u(con, ds, model)
    con.close()
    LOG.info("lambda + u estimated in %.1fs", time.time() - t0)
    return model, time.time() - t0


def conditional_house_u(con, ds: DataSet, model):
    """Correct the independence assumption for the house comparison.

    Random-pair u values treat "same number" as independent of "same street / postcode",
    but the hard cases are exactly addresses on the same street.  By the chain rule,
    P(street, postcode, house | non-match) = P(street, postcode | U) * P(house | same street, U),
    so the house levels get u = their distribution among pairs of *different* base records on
    the same street and postcode (unsupervised: base only, the base has no duplicates).
    The 'number on one side only' level keeps its random-sampling u (it is driven by queries
    omitting the number, which base-base pairs cannot show)."""
    comp = next(c for c in model["comparisons"] if c["output_column_name"] == "house")
    levels = comp["comparison_levels"]
    non_null = [lv for lv in levels if not lv.get("is_null_level")]
    cols = ["hn", "sub", "hn_suffix", "street_type"]
    sel = ", ".join([f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in cols])
    case = "CASE " + " ".join(f"WHEN {lv['sql_condition']} THEN {k}" for k, lv in enumerate(non_null)
                              if lv["sql_condition"].strip().upper() != "ELSE") + f" ELSE {len(non_null) - 1} END"
    con.register("_base_for_u", ds.base_tbl)
    rows = con.execute(f"""
        WITH p AS (SELECT {sel} FROM _base_for_u l JOIN _base_for_u r
                   ON l.street_compact = r.street_compact AND l.pc = r.pc AND l.unique_id < r.unique_id
                   WHERE l.hn IS NOT NULL AND r.hn IS NOT NULL)
        SELECT {case} AS g, count(*) FROM p GROUP BY g""").fetchall()
    con.unregister("_base_for_u")
    counts = {g: n for g, n in rows}
    total = sum(counts.values())
    if total < 1000:
        LOG.info("conditional house u: too few same-street pairs (%d), keeping random-sampling u", total)
        return
    one_side = next(k for k, lv in enumerate(non_null) if "IS NULL OR" in lv["sql_condition"])
    p_one = non_null[one_side].get("u_probability") or 0.0
    K = len(non_null) - 1
    for k, lv in enumerate(non_null):
        if k == one_side:
            continue
        u = (counts.get(k, 0) + 0.5) / (total + 0.5 * K) * (1.0 - p_one)
        LOG.info("house u[%s]: random %.3g -> same-street %.3g", lv.get("label_for_charts"),
                 lv.get("u_probability") or float("nan"), u)
        lv["u_probability"] = u
        lv["fix_u_probability"] = True
    LOG.info("conditional house u from %d same-street base pairs", total)


def train(ds: DataSet, threads, query_subset, truth, use_labels_m, u_model):
    linker, con = make_linker(ds, u_model, threads, query_subset)
    t0 = time.time()
    if not use_labels_m:
        # unsupervised: each comparison gets m from at least one session whose blocking
        # rule does not use its columns (Splink averages m over sessions)
        for br in EM_RULES:
            linker.training.estimate_parameters_using_expectation_maximisation(br)
    else:
        rows = [("base", t, "queries", q) for q, t in truth.items() if t != "NEW"]
        lab = pa.table({"source_dataset_l": [r[0] for r in rows], "unique_id_l": [r[1] for r in rows],
                        "source_dataset_r": [r[2] for r in rows], "unique_id_r": [r[3] for r in rows]})
        lab_sdf = linker.table_management.register_labels_table(
            linker._db_api.register(lab, dataset_display_name="labels"))
        linker.training.estimate_m_from_pairwise_labels(lab_sdf)
    model = linker.misc.save_model_to_json()
    LOG.info("training (%s) done in %.1fs", "labels-m" if use_labels_m else "EM", time.time() - t0)
    return linker, con, model, time.time() - t0


def evaluate_on(linker, con, qids, truth, classes, thr):
    best, tn, n_pairs = top1(linker, con)
    rec, missed = blocking_recall(con, tn, {q: truth[q] for q in qids}) if truth else (None, None)
    pred = decide(best, qids, thr) if thr is not None else None
    return best, (pred if thr is not None else tn), n_pairs, rec, missed


def dump_errors(con, tn, best, thr, truth, classes, ds, path):
    """debug aid (calibration set only): errors with both candidates' gamma vectors"""
    import itertools
    qraw = {r["qid"]: r for r in ds.queries}
    bcols = ds.base_tbl.column_names
    bfe = {r["unique_id"]: r for r in ds.base_tbl.to_pylist()}
    qfe = {r["unique_id"]: r for r in ds.q_tbl.to_pylist()}
    gcols = [c[0] for c in con.execute(f"DESCRIBE {tn}").fetchall() if c[0].startswith("mw_")]
    gsel = ", ".join(gcols) if gcols else "NULL"
    want = []
    for q, t in truth.items():
        b = best.get(q)
        p = b[0] if (b and b[1] >= thr) else "NEW"
        if p != t:
            want.append((q, t, p, b))
    con.execute("CREATE OR REPLACE TEMP TABLE _want(q VARCHAR, b VARCHAR)")
    pairs = [(q, x) for q, t, p, b in want for x in (t, b[0] if b else None) if x and x != "NEW"]
    if pairs:
        con.executemany("INSERT INTO _want VALUES (?, ?)", pairs)
    rows = con.execute(f"""
        WITH p AS (SELECT CASE WHEN source_dataset_l='queries' THEN unique_id_l ELSE unique_id_r END q,
                          CASE WHEN source_dataset_l='queries' THEN unique_id_r ELSE unique_id_l END b,
                          match_weight, {gsel} FROM {tn})
        SELECT p.* FROM p JOIN _want USING (q, b)""").fetchall()
    info = {(r[0], r[1]): r[2:] for r in rows}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["qid", "class", "truth", "pred", "q_street", "q_pc", "q_city", "q_country", "q_feat",
                    "truth_feat", "truth_w", "truth_gamma", "top_id", "top_feat", "top_w", "top_gamma"])
        for q, t, p, b in want:
            r = qraw[q]
            ti = info.get((q, t))
            bi = info.get((q, b[0])) if b else None
            short = lambda d: "|".join(str(d.get(k)) for k in ("street_core", "street_type", "hn", "sub", "pc",
                                                              "city", "country")) if d else ""
            w.writerow([q, classes.get(q), t, p, r["street"], r["postal_code"], r["city"], r["country"],
                        short(qfe.get(q)), short(bfe.get(t)), ti[0] if ti else "", ti[1:] if ti else "",
                        b[0] if b else "", short(bfe.get(b[0])) if b else "", b[1] if b else "",
                        bi[1:] if bi else ""])


def peak_mem_mb():
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ch_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(self_kb, ch_kb) / 1024.0, 1)


class RSSMonitor(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = False

    def run(self):
        import psutil
        p = psutil.Process()
        while not self.stop:
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                self.peak = max(self.peak, rss)
            except Exception:
                pass
            time.sleep(0.5)


def print_metrics(title, m):
    o = m["overall"]
    print(f"== {title}: P={o['precision']:.4f} R={o['recall']:.4f} F1={o['f1']:.4f} "
          f"(n={o['n']} tp={o['tp']} fp={o['fp']} fn={o['fn']})")
    for c, s in m.get("per_primary_class", {}).items():
        print(f"   {c:<28} n={s['n']:>6} P={s['precision']:.4f} R={s['recall']:.4f} F1={s['f1']:.4f} "
              f"fp={s['fp']} fn={s['fn']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calib")
    ap.add_argument("--report", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", action="store_true", help="calibrate on half of REPORT's queries")
    ap.add_argument("--model", choices=["auto", "em", "labels"], default="auto",
                    help="m estimation: unsupervised EM, calibration labels, or pick the better on calib")
    ap.add_argument("--save-model", default=None)
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--no-conditional-u", action="store_true",
                    help="keep plain random-sampling u for the house comparison")
    ap.add_argument("--debug", default=None, help="write calibration errors to DEBUG.<variant>.csv")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO if a.v else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    LOG.setLevel(logging.INFO)
    mon = RSSMonitor()
    T0 = time.time()
    timings = {}
    global DEBUG_GAMMAS, CONDITIONAL_HOUSE_U
    DEBUG_GAMMAS = bool(a.debug)
    CONDITIONAL_HOUSE_U = not a.no_conditional_u
    if not a.split and not a.calib:
        ap.error("--calib required unless --split")

    # ---------------- calibration ----------------
    t = time.time()
    rep_base = read_csv(os.path.join(a.report, "base.csv"))
    rep_q = read_csv(os.path.join(a.report, "queries.csv"))
    if a.split:
        def h(q):
            return int(hashlib.md5(q.encode()).hexdigest(), 16) % 2
        cal_q = [r for r in rep_q if h(r["qid"]) == 0]
        rep_q_eval = [r for r in rep_q if h(r["qid"]) == 1]
        rep = DataSet("report", rep_base, rep_q, a.threads)
        cal = rep
        cal_subset = {r["qid"] for r in cal_q}
        rep_subset = {r["qid"] for r in rep_q_eval}
    else:
        cal_base = read_csv(os.path.join(a.calib, "base.csv"))
        cal_q = read_csv(os.path.join(a.calib, "queries.csv"))
        cal = DataSet("calib", cal_base, cal_q, a.threads)
        rep = DataSet("report", rep_base, rep_q, a.threads)
        rep_q_eval = rep_q
        cal_subset = rep_subset = None
    timings["load_and_standardise_s"] = round(time.time() - t, 1)
    timings["standardise_calib_s"] = round(cal.prep_seconds, 1)
    timings["standardise_report_s"] = round(rep.prep_seconds, 1)
    mon.start()
    cal_truth = {r["qid"]: r["truth"] for r in cal_q}
    cal_class = {r["qid"]: r.get("class", "") for r in cal_q}
    cal_qids = [r["qid"] for r in cal_q]

    t = time.time()
    variants = ["em", "labels"] if a.model == "auto" else [a.model]
    results = {}
    u_model, u_sec = train_u(cal, a.threads, cal_subset)
    timings["lambda_u_s"] = round(u_sec, 1)
    for v in variants:
        linker, con, model, tsec = train(cal, a.threads, cal_subset, cal_truth, v == "labels", u_model)
        best, tn, n_pairs, brec, bmiss = evaluate_on(linker, con, cal_qids, cal_truth, cal_class, None)
        thr, f1 = tune_threshold(best, cal_truth)
        if a.debug:
            dump_errors(con, tn, best, thr, cal_truth, cal_class, cal, f"{a.debug}.{v}.csv")
        results[v] = dict(model=model, thr=thr, f1=f1, best=best, n_pairs=n_pairs, brec=brec, bmiss=bmiss,
                          train_s=tsec)
        LOG.info("variant %s: calib F1=%.4f at match_weight>=%.3f (blocking recall %.5f, %d pairs)",
                 v, f1, thr, brec, n_pairs)
        con.close()
    chosen = max(results, key=lambda v: results[v]["f1"])
    R = results[chosen]
    thr = R["thr"]
    timings["train_and_calibrate_s"] = round(time.time() - t, 1)
    cal_pred = decide(R["best"], cal_qids, thr)
    cal_metrics = prf(cal_pred, cal_truth, cal_class)
    if a.save_model:
        with open(a.save_model, "w") as f:
            json.dump(R["model"], f, indent=1)

    # ---------------- report ----------------
    t = time.time()
    linker, con = make_linker(rep, R["model"], a.threads, rep_subset)
    rep_truth = {r["qid"]: r.get("truth", "") for r in rep_q_eval}
    rep_class = {r["qid"]: r.get("class", "") for r in rep_q_eval}
    rep_qids = [r["qid"] for r in rep_q_eval]
    have_truth = all(v != "" for v in rep_truth.values())
    best, pred, n_pairs_rep, brec_rep, bmiss_rep = evaluate_on(
        linker, con, rep_qids, rep_truth if have_truth else None, rep_class, thr)
    timings["predict_report_s"] = round(time.time() - t, 1)
    con.close()
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["qid", "pred", "probability"])
        for q in rep_qids:
            p, prob = pred[q]
            w.writerow([q, p, f"{prob:.6f}" if prob is not None else ""])
    rep_metrics = prf(pred, rep_truth, rep_class) if have_truth else None
    timings["total_s"] = round(time.time() - T0, 1)
    mon.stop = True

    print(f"splink {splink.__version__}, duckdb {duckdb.__version__}, threads={a.threads}")
    for v, r in results.items():
        print(f"variant {v:<6}: calib best F1={r['f1']:.4f} at match_weight>={r['thr']:.3f}")
    print(f"chosen m-estimation: {chosen}; threshold match_weight >= {thr:.3f} "
          f"(match_probability >= {prob_from_weight(thr):.6f})")
    print(f"calib blocking recall: {R['brec']:.5f} ({R['bmiss']} true pairs lost), {R['n_pairs']} pairs")
    print_metrics("CALIB " + (a.calib or a.report + " [split half A]"), cal_metrics)
    if rep_metrics:
        print(f"report blocking recall: {brec_rep:.5f} ({bmiss_rep} lost), {n_pairs_rep} pairs")
        print_metrics("REPORT " + a.report + (" [split half B]" if a.split else ""), rep_metrics)
    print("timings:", timings, "peak RSS MB:", round(mon.peak / 2**20, 1), "ru_maxrss MB:", peak_mem_mb())

    lam = R["model"].get("probability_two_random_records_match")
    summary = {
        "calib": a.calib, "report": a.report, "split": a.split, "splink": splink.__version__,
        "duckdb": duckdb.__version__, "threads": a.threads, "m_estimation": chosen,
        "variants": {v: {"calib_f1": r["f1"], "threshold_match_weight": r["thr"]} for v, r in results.items()},
        "threshold_match_weight": thr, "threshold_match_probability": prob_from_weight(thr),
        "probability_two_random_records_match": lam,
        "blocking_rules": BLOCKING_RULES,
        "calib_blocking_recall": R["brec"], "calib_blocking_lost": R["bmiss"], "calib_pairs": R["n_pairs"],
        "report_blocking_recall": brec_rep, "report_blocking_lost": bmiss_rep, "report_pairs": n_pairs_rep,
        "calib_metrics": cal_metrics, "report_metrics": rep_metrics, "timings_s": timings,
        "peak_rss_mb": round(mon.peak / 2**20, 1), "ru_maxrss_mb": peak_mem_mb(),
    }
    jpath = os.path.splitext(a.out)[0] + ".summary.json"
    with open(jpath, "w") as f:
        json.dump(summary, f, indent=1)
    mpath = os.path.splitext(a.out)[0] + ".model.json"
    with open(mpath, "w") as f:
        json.dump(R["model"], f, indent=1)


if __name__ == "__main__":
    main()
