"""Reading affiliates: one affiliate's view and its downline tree (bounded in depth and size)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.db import get_existing
from models.affiliates.records import Affiliate, AffiliateStatus
from models.platform import Program

MAX_TREE_DEPTH = 5
MAX_TREE_NODES = 500


class AffiliateView(BaseModel):
    id: int
    program: str
    wallet: str
    code: str
    parent_code: str | None
    depth: int
    status: AffiliateStatus
    created_at: datetime


def affiliate_view(session: Session, affiliate: Affiliate, program_slug: str | None = None) -> AffiliateView:
    parent = session.get(Affiliate, affiliate.parent_id) if affiliate.parent_id else None
    if program_slug is None:
        program_slug = get_existing(session, Program, affiliate.program_id).slug
    return AffiliateView(
        id=affiliate.id,
        program=program_slug,
        wallet=affiliate.wallet,
        code=affiliate.code,
        parent_code=parent.code if parent else None,
        depth=affiliate.depth,
        status=AffiliateStatus(affiliate.status),
        created_at=affiliate.created_at,
    )


class TreeNode(BaseModel):
    code: str
    depth: int
    status: AffiliateStatus
    joined_at: datetime
    wallet: str | None = None  # only in operator views
    children: list[TreeNode] = []


class Tree(BaseModel):
    root: TreeNode
    nodes: int
    truncated: bool  # the depth or node bound cut the tree


def tree(session: Session, root: Affiliate, *, depth: int = 2, limit: int = 100, with_wallets: bool = False) -> Tree:
    """The downline of `root`, breadth first, at most `depth` levels below it and `limit` nodes."""
    depth = max(0, min(depth, MAX_TREE_DEPTH))
    limit = max(1, min(limit, MAX_TREE_NODES))

    def node(a: Affiliate) -> TreeNode:
        return TreeNode(
            code=a.code,
            depth=a.depth,
            status=AffiliateStatus(a.status),
            joined_at=a.created_at,
            wallet=a.wallet if with_wallets else None,
        )

    top = node(root)
    frontier = [(root.id, top)]
    count, truncated = 1, False
    for _level in range(depth):
        if not frontier:
            break
        by_id = dict(frontier)
        children = session.exec(
            select(Affiliate)
            .where(col(Affiliate.parent_id).in_(list(by_id)))
            .order_by(col(Affiliate.id))
            .limit(limit - count + 1)
        ).all()
        next_frontier = []
        for child in children:
            if count >= limit:
                truncated = True
                break
            child_node = node(child)
            by_id[child.parent_id].children.append(child_node)
            next_frontier.append((child.id, child_node))
            count += 1
        frontier = next_frontier
    else:
        if (
            frontier
            and session.exec(
                select(func.count())
                .select_from(Affiliate)
                .where(col(Affiliate.parent_id).in_([i for i, _ in frontier]))
            ).one()
        ):
            truncated = True
    return Tree(root=top, nodes=count, truncated=truncated)
