"""The store's read side for the steward pages: plain selects, no business rules, no writes
(docs/architecture.md, "The parts").

One module per subject (the queue, a candidate, a golden record, the dashboard); each function
takes a read session, as the API's reads in ``hub.store.queries`` do, and returns rows, dicts or
domain values. The steward pages shape them for their templates and never write SQL of their
own; every write goes through the message bus.
"""
