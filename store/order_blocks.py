"""The list's confidence order cut into blocks: every conversation in that order, a bitset for each
run of consecutive ones. A page is then found by counting a filter's matches block by block.

Why: a confidence level can hold a long run of conversations no filter with a term matches. Every
CALM conversation has confidence 1.0 (FlowPolicy), and ties go by sender: at 1M generated
conversations the top band starts with 300k CALM ones (`calm-…`), so a walk along the order for
an intent met none of its matches, and the band's 17k-99k matches were read and sorted whole
(intent, entity, text, policy with `in_training_data=false`: 15-75 ms). Counting the matches
in each block (a bitset AND, microseconds) says which leading blocks hold the page, and only
their matches are read and sorted.

The blocks are read from the store's order index once and kept by the reading process. Since
then a conversation's lowest confidence can only have fallen and its sender id is the same: it
ranks no earlier than its block says, so every conversation of a later block ranks after the last
one of the blocks taken, as that one ranked then. A page sorted from the taken blocks' candidates
is exact if its last row still ranks no later than that; else more blocks are taken.
Conversations new since are in no block and go with every page (the blocks are read again once
there are a block's worth).
"""

import itertools
from dataclasses import dataclass

from . import sets

# At most this many blocks (64 bitsets as large as the store: 8 MB at 1M conversations), each
# of at least BLOCK_AT_LEAST conversations.
BLOCKS_AT_MOST = 64
BLOCK_AT_LEAST = 4_096


@dataclass(frozen=True)
class OrderBlocks:
    """Bitsets of consecutive conversations in an order, first to last, and the sort key of each
    block's last conversation then; `known`: all of them."""

    blocks: tuple[int, ...]
    last_keys: tuple[tuple, ...]
    known: int
    size: int  # conversations a block
    as_of: int  # what the reader checks them against: the erasures that took the newest ids


def read(db, order_sql: str, key_columns: str, as_of: int) -> OrderBlocks:
    """The blocks of every conversation in `order_sql` (ORDER BY terms over `conversations c`,
    whose columns are `key_columns`), read a block at a time (at 1M: 0.6 s on SQLite, 1.2 on
    PostgreSQL); a million rows fetched at once were 90 MB of Python objects."""
    (last_id,) = db.execute("SELECT coalesce(max(id), 0) FROM conversations").fetchone()
    size = max(BLOCK_AT_LEAST, -(-last_id // BLOCKS_AT_MOST))
    rows = db.stream(f"SELECT c.id, {key_columns} FROM conversations c ORDER BY {order_sql}", size)
    blocks, last_keys, known = [], [], 0
    while chunk := list(itertools.islice(rows, size)):
        blocks.append(sets.bits_of(row[0] for row in chunk))
        last_keys.append(tuple(chunk[-1][1:]))
        known |= blocks[-1]
    return OrderBlocks(tuple(blocks), tuple(last_keys), known, size, as_of)


def blocks_holding(order: OrderBlocks, candidates: int, wanted: int) -> tuple[int, int, int]:
    """(the first block holding a candidate, how many leading blocks hold `wanted` candidates (all,
    if fewer), the candidates of that first block), as the blocks were read."""
    first, count, in_first = None, 0, 0
    for taken, block in enumerate(order.blocks, 1):
        inside = (candidates & block).bit_count()
        if inside and first is None:
            first, in_first = taken - 1, inside
        count += inside
        if count >= wanted:
            return first or 0, taken, in_first
    return first or 0, len(order.blocks), in_first


def none_among_first(order: OrderBlocks, candidates: int, rows: int) -> bool:
    """Whether no candidate is among the order's first `rows` conversations: none in the blocks
    that held them as read (a conversation ranks no earlier than its block), and none new since
    (a new one may rank anywhere). A walk from the order's first conversation then passes at
    least that many before its first candidate, less those erased since."""
    return not any(candidates & block for block in order.blocks[:-(-rows // order.size)]) \
        and not candidates & ~order.known


def tie_of(order: OrderBlocks, block: int) -> tuple | None:
    """(sort key, the last sender id before the block, its last sender id) of a block whose
    conversations shared one sort key (a confidence) as read and that follows another; else None.
    Its range of sender ids is then a range of the order's index."""
    if block == 0 or order.last_keys[block - 1][0] != order.last_keys[block][0]:
        return None
    return order.last_keys[block][0], order.last_keys[block - 1][1], order.last_keys[block][1]


def candidates_in(order: OrderBlocks, candidates: int, taken: int) -> int:
    """The candidates of the first `taken` blocks, and those in no block."""
    inside = candidates & ~order.known
    for block in order.blocks[:taken]:
        inside |= candidates & block
    return inside
