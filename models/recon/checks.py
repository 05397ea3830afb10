"""A check's result: the books' figure (expected), the world's (actual), their exact integer difference
(actual − expected) and the items that explain it. Benign items (in flight, not yet final) explain part
of the difference; whatever they do not explain is `unexplained`, and a non-zero `unexplained` is P0."""

from __future__ import annotations

from pydantic import BaseModel, computed_field


class Item(BaseModel):
    """One thing behind a difference: a transaction hash, a ledger key, a payment ref."""

    ref: str
    what: str
    amount: int = 0  # signed contribution to the difference (actual − expected), in the check's asset units
    benign: bool = False  # expected to resolve by itself (in flight); otherwise someone must look at it


class CheckResult(BaseModel):
    name: str
    family: str  # chain | processor | internal
    asset: str = ""  # "" = a count of records, not an amount
    expected: int = 0
    actual: int = 0
    items: list[Item] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def difference(self) -> int:
        return self.actual - self.expected

    @computed_field  # type: ignore[prop-decorator]
    @property
    def explained(self) -> int:
        return sum(i.amount for i in self.items if i.benign)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unexplained(self) -> int:
        return self.difference - self.explained

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return self.unexplained == 0


def unmatched(name: str, family: str, items: list[Item], *, total: int) -> CheckResult:
    """A matching check: of `total` records, those in `items` have no counterpart. Counts, not amounts:
    expected = records matched on both sides, actual = records seen."""
    return CheckResult(
        name=name,
        family=family,
        expected=total - len(items),
        actual=total,
        items=[i.model_copy(update={"amount": 1}) for i in items],
    )
