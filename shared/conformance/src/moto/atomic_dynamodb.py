# moto's server as the tests run it, in two patches.
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

# moto answers a Query on a table's key by sorting every item of the table and keeping the
# partition's, so each Query costs the whole table (a look at the 32 outbox partitions of a table
# of 10,000 items took ~0.7 s). While one runs, the table's item list is the queried partition's
# alone: the same answer, as DynamoDB finds it. Queries on an index are left as moto makes them.
# Under the lock above one request runs at a time, so the marker on the table is not shared.
from moto.dynamodb.models.table import Table

_table_query = Table.query
_all_items = Table.all_items


def _partition_query(self, hash_key, *args, **kwargs):
    # moto's backend passes the index name as the eighth argument
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None:
        return _table_query(self, hash_key, *args, **kwargs)
    self._queried_partition = hash_key
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        self._queried_partition = None


def _partition_items(self):
    hash_key = getattr(self, "_queried_partition", None)
    if hash_key is None:
        return _all_items(self)
    partition = self.items.get(hash_key)
    if partition is None:
        return []
    items = list(partition.values()) if self.range_key_attr else [partition]
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


Table.query = _partition_query
Table.all_items = _partition_items
