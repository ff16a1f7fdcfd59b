# moto's SQS with the same answers in less time (written against moto 5.2.6's moto/sqs/models.py).
#
# moto keeps a queue's messages in one list and looks through all of it on most calls, reading
# the clock (two datetime constructions) once or twice per message on each look. Worst, its
# Queue.attributes counts the queue three times over (ApproximateNumberOfMessages, ...Delayed,
# ...NotVisible), and it is built for one unrelated attribute on every message sent (the
# ContentBasedDeduplication flag) and twice per message received (the retention period). A
# profile of moto's server (py-spy) while a dead endpoint's 2,000 jobs backed off as delayed
# messages (functions/tests/retry_chain.rs) had 92% of its samples in Queue.attributes: 56% from
# ReceiveMessage's retention check, 35% from SendMessageBatch; 85% were reading the clock. With
# moto as it is (and profiled), that test had handled 1,280 of 2,000 jobs after 28 minutes (stopped;
# 300 jobs took 34.5 s); with these patches 2,000 take 45-52 s and 300 take 10.3 s (`cargo nextest
# run -p hookline-functions --test retry_chain`, a shared 2-core machine). Each keeps moto's answer:
#   - the clock moto.sqs.models reads is time.time(), which moto's datetime arithmetic computes;
#   - a look through a queue reads the clock once, not once or twice per message;
#   - Queue.attributes counts the queue in one pass, and not at all for a caller that reads other
#     attributes (SendMessage's checks, ReceiveMessage's retention check, CreateQueue's comparison
#     with an existing queue, GetQueueAttributes without All or a count among the names);
#   - DeleteMessage and ChangeMessageVisibility find the message in one pass that compares
#     receipt handles (the current one or an earlier one, as moto accepts both) without building
#     a list per message.
# Delays, visibility timeouts, receive counts, redrive to the dead-letter queue, long polls,
# batches and their per-entry failures are left to moto's own code.
def _patch_sqs():
    import threading
    import time

    import moto.sqs.models as models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Queue, SQSBackend

    moto_unix_time = models.unix_time
    moto_unix_time_millis = models.unix_time_millis

    def unix_time(dt=None):
        return time.time() if dt is None else moto_unix_time(dt)

    def unix_time_millis(dt=None):
        return time.time() * 1000.0 if dt is None else moto_unix_time_millis(dt)

    models.unix_time = unix_time
    models.unix_time_millis = unix_time_millis

    # Message.visible and Message.delayed, with one clock reading for the whole queue
    def visible_now(queue):
        now = unix_time_millis()
        return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]

    Queue.messages = property(visible_now)

    def count(queue):
        now = unix_time_millis()
        available = not_visible = delayed = 0
        for m in queue._messages:
            visible = now > m.visible_at
            waiting = now < m.delayed_until
            if visible and not waiting:
                available += 1
            if not visible:
                not_visible += 1
            if waiting:
                delayed += 1
        return available, not_visible, delayed

    # per request thread: whether the attributes being built need no counts, and the counts of
    # the queue whose attributes are being built
    reading = threading.local()

    def counted(index):
        def get(queue):
            counts = getattr(reading, "counts", None)
            if counts is not None and counts[0] is queue:
                return counts[1][index]
            return count(queue)[index]

        return property(get)

    Queue.approximate_number_of_messages = counted(0)
    Queue.approximate_number_of_messages_not_visible = counted(1)
    Queue.approximate_number_of_messages_delayed = counted(2)

    count_names = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    )
    moto_attributes = Queue.attributes.fget

    def attributes(queue):
        skip = getattr(reading, "skip_counts", False)
        outer = getattr(reading, "counts", None)
        reading.counts = (queue, (None, None, None) if skip else count(queue))
        try:
            result = moto_attributes(queue)
        finally:
            reading.counts = outer
        if skip:
            for name in count_names:
                result.pop(name, None)
        return result

    Queue.attributes = property(attributes)

    def counts_unless(method, wanted):
        def run(*args, **kwargs):
            outer = getattr(reading, "skip_counts", False)
            reading.skip_counts = not wanted(*args, **kwargs)
            try:
                return method(*args, **kwargs)
            finally:
                reading.skip_counts = outer

        return run

    def never(*args, **kwargs):
        return False

    for name in (
        "send_message",
        "_validate_message",
        "is_message_valid_based_on_retention_period",
        "create_queue",
    ):
        setattr(SQSBackend, name, counts_unless(getattr(SQSBackend, name), never))

    def names_a_count(backend, queue_name, attribute_names, *args, **kwargs):
        return any(name == "All" or name in count_names for name in attribute_names or ())

    SQSBackend.get_queue_attributes = counts_unless(SQSBackend.get_queue_attributes, names_a_count)
    # a queue's own reading of its attributes (a FIFO queue's deduplication, Lambda event sources
    # invoked from here) is moto's
    Queue.add_message = counts_unless(Queue.add_message, lambda *args, **kwargs: True)

    def holder(messages, receipt_handle):
        """The first message that has or had this receipt handle (Message.had_receipt_handle)."""
        for i, m in enumerate(messages):
            if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles:
                return i
        return None

    # Queue.delete_message, finding the message in one pass
    def delete_message(queue, receipt_handle):
        if receipt_handle in queue.deleted_messages:
            # already deleted: a repeated delete succeeds
            return
        messages = queue._messages
        i = holder(messages, receipt_handle)
        if i is None:
            raise ReceiptHandleIsInvalid()
        message = messages[i]
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)
        # a new list, as moto makes one
        queue._messages = messages[:i] + messages[i + 1 :]

    Queue.delete_message = delete_message

    # SQSBackend.change_message_visibility, finding the message in one pass
    def change_message_visibility(backend, queue_name, receipt_handle, visibility_timeout):
        queue = backend.get_queue(queue_name)
        i = holder(queue._messages, receipt_handle)
        if i is None:
            raise ReceiptHandleIsInvalid
        message = queue._messages[i]
        visibility_timeout_msec = int(visibility_timeout) * 1000
        given_visibility_timeout = unix_time_millis() + visibility_timeout_msec
        if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:
            raise models.InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: "
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            # visible again: no longer pending
            queue.pending_messages.remove(message)

    SQSBackend.change_message_visibility = change_message_visibility


_patch_sqs()
del _patch_sqs
