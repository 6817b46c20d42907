from django.dispatch import Signal

# Sent inside the transaction that changes a host's state, with the arguments
# host, change (the StatusChange) and since (when the previous state began).
status_changed = Signal()
