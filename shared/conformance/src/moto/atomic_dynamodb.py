# moto's server as the tests run it: its DynamoDB requests made atomic, and the costs that grow
# with the data or the size of a response (a Query, a response's items) cut down to what the
# answer needs, the answers unchanged. moto's SQS is patched the same way in fast_sqs.py, which
# the server loads after this file.
#
# DynamoDB applies each conditional write atomically; moto's threaded server does not: two
# concurrent UpdateItems can both pass their condition. One lock around every DynamoDB request
# gives the tests DynamoDB's semantics (SQS, whose long polls would block it, is left alone).
import threading
from moto.dynamodb.responses import DynamoHandler

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _dynamodb_lock:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

# moto answers a Query by sorting every item of the table and keeping the queried partition's,
# so each Query costs the whole table: a look at the 32 outbox partitions of a table of 10,000
# items took ~0.7 s, and with the copying and serializing below, each of the four gsi3 Queries
# of one recover page (a subscription's failed-delivery shards, 1,001 keys each, in a table of
# 20,000 items) took 5-9 s on the server, one after another. While one runs, the table's item
# list is only the items the partition can hold: on the table, the queried partition's; on an
# index, the items whose index partition key is the queried one. moto still checks the key
# condition, sorts by the index's keys then the table's, pages, sizes and projects them itself,
# so the answer is the same, as DynamoDB finds it. A Query on an index with more than one
# partition key attribute is left as moto makes it. Under the lock above one request runs at a
# time, so the markers set while one runs are not shared.
from moto.dynamodb.models.table import Table

_table_query = Table.query
_all_items = Table.all_items


def _index_hash_key(table, index_name):
    index = table.get_index(index_name)
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    return hashes[0] if len(hashes) == 1 else None


def _partition_query(self, hash_key, *args, **kwargs):
    # moto's backend passes the index name as the eighth argument
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if hash_key is None:
        return _table_query(self, hash_key, *args, **kwargs)
    if index_name is None:
        self._queried_partition = ("table", hash_key)
    else:
        conditions = kwargs.get("hash_key_conditions") or []
        attr = _index_hash_key(self, index_name)
        if attr is None or len(conditions) != 1 or conditions[0][0] != attr:
            return _table_query(self, hash_key, *args, **kwargs)
        self._queried_partition = ("index", attr, conditions[0][1])
        _projecting[0] = _projected_attributes(self.get_index(index_name))
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        self._queried_partition = None
        _projecting[0] = None


def _partition_items(self):
    queried = getattr(self, "_queried_partition", None)
    if queried is None:
        return _all_items(self)
    if queried[0] == "index":
        _, attr, value = queried
        every = (
            (i for part in self.items.values() for i in part.values())
            if self.range_key_attr
            else iter(self.items.values())
        )
        return [i for i in every if (v := i.attrs.get(attr)) is not None and v == value]
    partition = self.items.get(queried[1])
    if partition is None:
        return []
    items = list(partition.values()) if self.range_key_attr else [partition]
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


# moto then copies each item of an index's answer whole and projects the copy through a round
# trip to plain JSON and back. While an index is queried an item is copied with only the
# attributes the index projects (its keys and the table's, and an INCLUDE index's listed
# attributes; an ALL index's items whole), which is all the projection keeps of it. With the
# three DynamoDB patches here, one recover page's four gsi3 Queries take 1.5-1.9 s in-process
# against 9-26 s in moto as it is (the same items, compared).
def _projected_attributes(index):
    kind = (index.projection or {}).get("ProjectionType")
    if kind not in ("KEYS_ONLY", "INCLUDE"):
        return None
    kept = set(index.table_key_attrs) | {k["AttributeName"] for k in index.schema}
    if kind == "INCLUDE":
        kept |= set(index.projection.get("NonKeyAttributes", []))
    return kept


from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

_projecting = [None]
_item_deepcopy = Item.__deepcopy__


def _deepcopy_projected(self, memo):
    kept = _projecting[0]
    if kept is None:
        return _item_deepcopy(self, memo)
    trimmed = Item.__new__(Item)
    trimmed.hash_key, trimmed.range_key = self.hash_key, self.range_key
    trimmed.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(trimmed.attrs)
    for name, value in self.attrs.items():
        if name in kept:
            dict.__setitem__(trimmed.attrs, name, value)
    return _item_deepcopy(trimmed, memo)


Table.query = _partition_query
Table.all_items = _partition_items
Item.__deepcopy__ = _deepcopy_projected

# moto writes every response through a generic serializer that looks up each member of each
# value's shape under several spellings, ten members for each item attribute (a DynamoDB
# AttributeValue): one recover page's eleven BatchGetItems (1,001 items of ~17 attributes) took
# 4-14 s in-process, ~0.5 s with this, and the gsi3 Queries' 4,004 keys most of their rest. An
# AttributeValue holding only strings, numbers, booleans, nulls, string and number sets, and
# lists and maps of such is already in its wire form (the serializer would copy it member by
# member unchanged) and is written as it is; one with a binary value, or any other shape, goes
# through the serializer as before.
from moto.core.serialize import BaseJSONSerializer

_serialize_structure = BaseJSONSerializer._serialize_type_structure


def _in_wire_form(value):
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in ("S", "N"):
        return isinstance(inner, str)
    if kind in ("BOOL", "NULL"):
        return isinstance(inner, bool)
    if kind in ("SS", "NS"):
        return isinstance(inner, list) and all(isinstance(e, str) for e in inner)
    if kind == "L":
        return isinstance(inner, list) and all(_in_wire_form(e) for e in inner)
    if kind == "M":
        return isinstance(inner, dict) and all(
            isinstance(k, str) and _in_wire_form(e) for k, e in inner.items()
        )
    return False


def _serialize_attribute_values_as_they_are(self, serialized, value, shape, key):
    if key and shape.name == "AttributeValue" and _in_wire_form(value):
        self._default_serialize(serialized, value, shape, key)
        return
    _serialize_structure(self, serialized, value, shape, key)


BaseJSONSerializer._serialize_type_structure = _serialize_attribute_values_as_they_are
