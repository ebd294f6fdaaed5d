"""Exact money for the readers' commands (explain, statement, simulate, review): Decimal only,
rounded half away from zero (P12), printed in the currency's minor units."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


def round_money(amount: Decimal, minor_units: int) -> Decimal:
    """P12: half away from zero (Python's ROUND_HALF_UP rounds ties away from zero, also for negatives)."""
    return Decimal(amount).quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP)


def money(amount: Decimal, currency: str, minor_units: int, *, signed: bool = False) -> str:
    """'$1,234.50', '-€3.00', '¥1,000': a line amount in the currency's minor units."""
    value = round_money(amount, minor_units)
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    symbol = SYMBOLS.get(currency, currency.upper() + " ")
    return f"{sign}{symbol}{abs(value):,.{minor_units}f}"


def rate(amount: Decimal, currency: str, minor_units: int) -> str:
    """A unit price: at least the minor units, more fraction digits when the price has them ('$0.0000015')."""
    value = Decimal(amount).normalize()
    digits = max(minor_units, -value.as_tuple().exponent if value.as_tuple().exponent < 0 else 0)
    symbol = SYMBOLS.get(currency, currency.upper() + " ")
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.{digits}f}"


def number(value: Decimal | int) -> str:
    """'12,000,000', '2.5': exact, thousands separators, no trailing fraction zeros."""
    d = Decimal(value)
    if d == d.to_integral_value():
        return f"{int(d):,}"
    text = format(d.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{int(whole):,}.{fraction}" if whole not in ("-0",) else f"-0.{fraction}"


def ceil_div(a: Decimal, b: Decimal) -> Decimal:
    return (Decimal(a) / Decimal(b)).to_integral_value(rounding=ROUND_CEILING)


def floor_div(a: Decimal, b: Decimal) -> Decimal:
    return (Decimal(a) / Decimal(b)).to_integral_value(rounding=ROUND_FLOOR)
