"""Schemathesis hooks for fuzz/run.sh (loaded through SCHEMATHESIS_HOOKS)."""
import schemathesis

# `follow=true` (logs, events) and `stream=true` (stats) keep a response open until the client
# leaves; schemathesis reads every body to its end and would wait for ever. The end-to-end tests
# cover those streams; here they are left out, everything else about the operations is fuzzed.
STREAMING = ("follow", "stream")


@schemathesis.hook
def filter_query(ctx, query):
    return not any(str((query or {}).get(name)).lower() == "true" for name in STREAMING)
