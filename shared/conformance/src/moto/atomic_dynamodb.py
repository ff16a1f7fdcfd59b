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
