"""The pricing catalog as the generator uses it: reading accounts, meters and plans, a traffic profile per
meter, the pool of accounts that send events, and (``write_catalog``) a copy of the catalog extended by the
generated accounts, their plan history and credit grants."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.generator.strings import concat, json_text, string_array
from orchestration.generator.traffic import (
    AGGREGATION_PROFILES,
    METER_PROFILES,
    OTHER_METER_WEIGHT,
    PROPERTIES,
    UNIQUE_POOL,
    UNIQUE_SPECIAL_VALUES,
    MeterMix,
)

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "seeds"
GRANT_COLUMNS = ["grant_id", "account_id", "amount", "effective_at", "expires_at"]


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_catalog(catalog_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """accounts.csv, meters.csv (meter, aggregation, unique_field; first row per meter) and plans.csv."""
    accounts = read_csv(catalog_dir / "accounts.csv")
    meters = read_csv(catalog_dir / "meters.csv")
    for col in ("meter", "aggregation", "unique_field"):
        meters[col] = meters[col].str.strip() if col in meters else ""
    meters = meters.drop_duplicates("meter").reset_index(drop=True)
    plans = read_csv(catalog_dir / "plans.csv") if (catalog_dir / "plans.csv").exists() else pd.DataFrame()
    if meters.empty:
        raise ValueError(f"{catalog_dir / 'meters.csv'} has no meters")
    return accounts, meters, plans


def nest(path: list[str], value: object) -> dict:
    """{"a": {"b": value}} for the path ["a", "b"]."""
    out: object = value
    for key in reversed(path):
        out = {key: out}
    return out


def meter_profiles(meters: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """A profile per catalog meter (its own, else its aggregation's, else api_calls-like at 1 %), and the
    properties table: the static ``PROPERTIES`` followed, for each unique_count meter over ``properties.<key>``,
    by a block of ``UNIQUE_POOL`` pooled values, the ``UNIQUE_SPECIAL_VALUES`` values and one object without
    the key.  A profile's ``unique_block`` is the start of its block in that table (None = no block)."""
    table = list(PROPERTIES)
    profiles = []
    for m, aggregation, unique_field in meters[["meter", "aggregation", "unique_field"]].itertuples(
        index=False
    ):
        base = METER_PROFILES.get(m) or AGGREGATION_PROFILES.get(aggregation)
        if base is None:
            base = {**METER_PROFILES["api_calls"], "weight": OTHER_METER_WEIGHT}
        prof = {**base, "unique_block": None}
        if aggregation == "unique_count" and unique_field == "endpoint":
            prof["endpoints"] = METER_PROFILES["api_calls"]["endpoints"]
        if (
            aggregation == "unique_count"
            and unique_field.startswith("properties.")
            and len(unique_field) > 11
        ):
            path = unique_field[len("properties.") :].split(".")
            prof["unique_block"] = len(table)
            table += [json_text(nest(path, f"u_{i}")) for i in range(UNIQUE_POOL)]
            table += [json_text(nest(path, value)) for value, _ in UNIQUE_SPECIAL_VALUES]
            table.append(json_text({"source": "sso"} if path[0] != "source" else {"origin": "sso"}))
        profiles.append(prof)
    return profiles, table


class AccountPool(NamedTuple):
    """The known accounts: catalog accounts first (non-test, then test), then the generated ``acct_NNNNNN``."""

    ids: pa.Array  # account id per account index
    account_of_rank: np.ndarray  # account index at each Zipf rank
    test_idx: np.ndarray  # indexes of the catalog's test accounts
    n_generated: int
    catalog_chosen: list[str]  # the catalog's account ids in use, in index order


def meter_mix(meters: pd.DataFrame) -> tuple[MeterMix, list[str]]:
    """The catalog's meters with their profiles and normalised weights, and the properties table."""
    profiles, properties_table = meter_profiles(meters)
    names = meters["meter"].tolist()
    weights = np.array([prof["weight"] for prof in profiles])
    weights = weights / weights.sum()
    default_meter = names.index("api_calls") if "api_calls" in names else -1
    return MeterMix(names, profiles, weights, default_meter), properties_table


def account_pool(cat: pd.DataFrame, accounts: int, rng: np.random.Generator) -> AccountPool:
    """``accounts`` known accounts (the catalog's first, generated ones when it has too few) and their Zipf
    ranks: the catalog's accounts are shuffled into the top ``2 x catalog size`` ranks."""
    is_test = cat["is_test"].str.strip().str.lower().isin(["true", "1", "t", "yes"])
    non_test = cat.loc[~is_test, "account_id"].tolist()
    tests = cat.loc[is_test, "account_id"].tolist()
    if accounts <= len(cat):
        n_test = min(len(tests), max(0, accounts - 1))
        chosen = non_test[: accounts - n_test] + tests[:n_test]
        n_gen = 0
    else:
        chosen = non_test + tests
        n_gen = accounts - len(chosen)
    taken = set(cat["account_id"])
    # generated ids acct_000001..; skip any id the catalog already uses
    gen = np.arange(1, n_gen + 1 + len(taken), dtype=np.int64)
    gen_ids = concat("acct_", pc.utf8_lpad(pc.cast(pa.array(gen), pa.string()), width=6, padding="0"))
    if taken:
        gen_ids = gen_ids.filter(pc.invert(pc.is_in(gen_ids, value_set=string_array(sorted(taken)))))
    gen_ids = gen_ids[:n_gen]
    ids = pa.concat_arrays(
        [string_array(chosen), gen_ids.combine_chunks() if hasattr(gen_ids, "chunks") else gen_ids]
    )
    # Zipf weights; catalog accounts shuffled into the top ranks
    a_total = len(ids)
    k_cat = len(chosen)
    top = min(a_total, 2 * k_cat)
    cat_ranks = np.sort(rng.choice(top, size=k_cat, replace=False)) if k_cat else np.empty(0, np.int64)
    rank_of = np.empty(a_total, np.int64)
    rank_of[rng.permutation(k_cat)] = cat_ranks
    free = np.setdiff1d(np.arange(a_total), cat_ranks)
    rank_of[k_cat:] = rng.permutation(free)
    account_of_rank = np.empty(a_total, np.int32)
    account_of_rank[rank_of] = np.arange(a_total, dtype=np.int32)
    test_idx = np.array([chosen.index(t) for t in tests if t in chosen], dtype=np.int64)
    return AccountPool(ids, account_of_rank, test_idx, n_gen, chosen)


def usd_plans(cat_plans: pd.DataFrame) -> list[str]:
    currency = cat_plans.get("currency", pd.Series(dtype=str)).str.strip().str.lower()
    return cat_plans.loc[currency == "usd", "plan_id"].tolist()


def append_csv(path: Path, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    data = path.read_bytes()
    with open(path, "ab") as fh:
        if data and not data.endswith(b"\n"):
            fh.write(b"\n")
        fh.write(frame.to_csv(index=False, header=False, lineterminator="\n").encode())


def write_catalog_copy(
    catalog_dir: Path,
    target: Path,
    pool: AccountPool,
    forced_plan: np.ndarray,
    cat_accounts: pd.DataFrame,
    cat_plans: pd.DataFrame,
    rng: np.random.Generator,
    start_date: dt.date,
    end_date: dt.date,
) -> None:
    """Copy every file of ``catalog_dir`` to ``target`` and extend the copy by the generated accounts (see
    ``generate_events``).  ``forced_plan``: usd plan index per generated account, -1 = drawn here."""
    if target.resolve() == catalog_dir.resolve():
        raise ValueError("write_catalog must differ from catalog_dir (the copy is extended in place)")
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(catalog_dir.iterdir()):
        if item.is_dir():
            shutil.copytree(item, target / item.name, dirs_exist_ok=True)
        else:
            shutil.copyfile(item, target / item.name)
    n_gen = pool.n_generated
    if not n_gen:
        return
    gen_ids = np.array(pool.ids[len(pool.catalog_chosen) :].to_pylist(), dtype=object)
    plans = usd_plans(cat_plans)
    if not plans:
        raise ValueError(f"{catalog_dir / 'plans.csv'} has no usd plan for the generated accounts")

    anchor = np.where(rng.random(n_gen) < 0.4, 1, rng.integers(1, 29, n_gen))
    _append_generated_accounts(target / "accounts.csv", list(cat_accounts.columns), gen_ids, anchor)
    history = _plan_history(gen_ids, plans, forced_plan, rng, start_date, end_date)
    plan_cols = list(read_csv(catalog_dir / "account_plans.csv").columns)
    for col in plan_cols:
        if col not in history:
            history[col] = ""
    append_csv(target / "account_plans.csv", history[plan_cols])
    write_grants(catalog_dir, target, gen_ids, anchor, rng, start_date, end_date)


def _append_generated_accounts(path: Path, cols: list[str], gen_ids: np.ndarray, anchor: np.ndarray) -> None:
    """accounts.csv rows: usd, ``Customer <NNNNNN>``, the drawn anchor day, not a test account."""
    n_gen = len(gen_ids)
    numbers = pd.Series(gen_ids).str.slice(5)
    acc_rows = pd.DataFrame({c: [""] * n_gen for c in cols})
    acc_rows["account_id"] = gen_ids
    if "account_name" in cols:
        acc_rows["account_name"] = ("Customer " + numbers).to_numpy()
    acc_rows["currency"] = "usd"
    if "billing_anchor_day" in cols:
        acc_rows["billing_anchor_day"] = anchor.astype(str)
    if "is_test" in cols:
        acc_rows["is_test"] = "false"
    append_csv(path, acc_rows[cols])


def _plan_history(
    gen_ids: np.ndarray,
    plans: list[str],
    forced: np.ndarray,
    rng: np.random.Generator,
    start_date: dt.date,
    end_date: dt.date,
) -> pd.DataFrame:
    """account_plans.csv rows: most start at the range start, some sign up later, some change plan
    mid-month, a few churn (valid_to exclusive, no overlaps)."""
    n_gen = len(gen_ids)
    n_days = (end_date - start_date).days
    p_idx = np.where(forced >= 0, forced, rng.integers(0, len(plans), n_gen))
    late_start = (rng.random(n_gen) < 0.15) & (forced < 0)
    vf_off = np.where(late_start, rng.integers(1, max(2, min(28, n_days)), n_gen), 0)
    change = (rng.random(n_gen) < 0.12) & (forced < 0)
    churn = (~change) & (rng.random(n_gen) < 0.03) & (forced < 0)
    ch_off = vf_off + rng.integers(1, max(2, n_days), n_gen)
    start_days = np.datetime64(start_date.isoformat(), "D")
    vf = start_days + vf_off
    ch = start_days + ch_off
    ch_day = (ch - ch.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    ch = np.where(ch_day == 1, ch + 1, ch)  # mid-month, never on the 1st
    valid_change = (change | churn) & (ch < np.datetime64(end_date.isoformat(), "D"))
    second = (p_idx + rng.integers(1, max(2, len(plans)), n_gen)) % len(plans) if len(plans) > 1 else p_idx
    vf_s = pd.Series(np.datetime_as_string(vf)).to_numpy()
    ch_s = pd.Series(np.datetime_as_string(ch)).to_numpy()
    plan_arr = np.array(plans, dtype=object)
    first = pd.DataFrame(
        {
            "account_id": gen_ids,
            "plan_id": plan_arr[p_idx],
            "valid_from": vf_s,
            "valid_to": np.where(valid_change, ch_s, ""),
            "_order": np.arange(n_gen) * 2,
        }
    )
    sel = valid_change & change
    nxt = pd.DataFrame(
        {
            "account_id": gen_ids[sel],
            "plan_id": plan_arr[second[sel]],
            "valid_from": ch_s[sel],
            "valid_to": "",
            "_order": np.flatnonzero(sel) * 2 + 1,
        }
    )
    return pd.concat([first, nxt]).sort_values("_order", kind="stable").drop(columns="_order")


def write_grants(
    catalog_dir: Path,
    target: Path,
    gen_ids: np.ndarray,
    anchor: np.ndarray,
    rng: np.random.Generator,
    start_date: dt.date,
    end_date: dt.date,
) -> None:
    """credit_grants.csv: 1-3 grants for ~30 % of the generated accounts (P11).  Amounts 2..400 (log-uniform,
    so many are used up) with 2, 3 or 4 decimals; effective at the range start (40 %) or on a day inside the
    range; expiring never (35 %), on the account's anchor day one or two periods after taking effect (35 %,
    i.e. exactly on a period boundary), or 10..90 days after taking effect (30 %, mostly mid-period).  The
    catalog's own grants are kept."""
    path = target / "credit_grants.csv"
    if not path.exists():
        path.write_text(",".join(GRANT_COLUMNS) + "\n")
    existing = read_csv(path)
    n_gen = len(gen_ids)
    per_account = np.where(rng.random(n_gen) < 0.3, rng.integers(1, 4, n_gen), 0)
    owner = np.repeat(np.arange(n_gen), per_account)
    n = len(owner)
    if not n:
        return
    nth = np.arange(n) - np.repeat(np.cumsum(per_account) - per_account, per_account) + 1
    owners = pd.Series(gen_ids[owner])
    grant_ids = ("gr_" + owners.str.slice(5) + "_" + pd.Series(nth).astype(str)).to_numpy()  # gr_000042_1
    effective, expires = _grant_dates(anchor[owner].astype(np.int64), rng, start_date, end_date)
    rows = pd.DataFrame(
        {
            "grant_id": grant_ids,
            "account_id": gen_ids[owner],
            "amount": _grant_amounts(n, rng).to_numpy(),
            "effective_at": effective,
            "expires_at": expires,
        }
    )
    rows = rows[~rows["grant_id"].isin(set(existing.get("grant_id", pd.Series(dtype=str))))]
    cols = list(existing.columns) or GRANT_COLUMNS
    for col in cols:
        if col not in rows:
            rows[col] = ""
    append_csv(path, rows[cols])


def _grant_dates(
    anchor: np.ndarray, rng: np.random.Generator, start_date: dt.date, end_date: dt.date
) -> tuple[np.ndarray, np.ndarray]:
    """effective_at and expires_at (ISO dates, "" = never) of grants whose accounts have these anchor days."""
    n = len(anchor)
    n_days = (end_date - start_date).days
    start_d = np.datetime64(start_date.isoformat(), "D")
    effective = start_d + np.where(rng.random(n) < 0.4, 0, rng.integers(0, max(1, n_days), n))
    # the first anchor day strictly after effective_at, plus 0 or 1 month: a period boundary of the account
    eff_month = effective.astype("datetime64[M]")
    eff_day = (effective - eff_month.astype("datetime64[D]")).astype(np.int64) + 1
    months = (eff_day >= anchor).astype(np.int64) + rng.integers(0, 2, n)
    boundary = (eff_month + months).astype("datetime64[D]") + (anchor - 1)
    later = effective + rng.integers(10, 91, n)
    style = rng.choice(3, size=n, p=[0.35, 0.35, 0.30])
    expires = np.where(style == 1, boundary, later)
    expires_s = np.where(style == 0, "", np.datetime_as_string(expires))
    return np.datetime_as_string(effective), expires_s


def _grant_amounts(n: int, rng: np.random.Generator) -> pd.Series:
    """amount = minor / 10**decimals, written with exactly `decimals` fraction digits (e.g. 25.125, 40.10)."""
    decimals = rng.integers(2, 5, n)
    scale = 10**decimals
    minor = (np.exp(rng.uniform(np.log(2), np.log(400), n)) * scale).astype(np.int64)  # log-uniform 2..400
    four = pd.Series((minor % scale) * 10 ** (4 - decimals)).astype(str).str.zfill(4)
    frac = four.copy()
    for d in (2, 3):
        frac[decimals == d] = four[decimals == d].str.slice(0, d)
    return pd.Series(minor // scale).astype(str) + "." + frac
