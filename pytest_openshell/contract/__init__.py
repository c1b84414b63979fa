"""The OpenShell contract's vocabulary, below both the suites (the judge) and the reference (the judged).

Label and annotation keys, token audiences and gRPC clients are facts of upstream OpenShell
(see shared DOMAIN notes and ``proto/UPSTREAM.md``). Nothing here imports ``reference`` or
``conformance``: the judge and the thing it judges read one copy of the facts.
"""
