"""The deck behind OpenAI's wire format: ``llmdeck serve`` and the in-process client.

    wire.py         OpenAI request/response/error bodies <-> Session arguments and Results
    openai_api.py   the /v1 handlers (chat completions, models), shared by the server
                    and llmdeck_nb.openai_inprocess (llmdeck_nb.openai_client())
    auth.py         loopback check, bearer-token check in constant time
    management.py   the /api routes (backends, routes, resolve, calls)
    app.py          the Starlette application (routes, body limit, errors, auth)
    run.py          ``llmdeck serve``: a Session and uvicorn

Only ``app.py`` and ``run.py`` import the server stack (starlette, uvicorn); importing
this package imports nothing heavy.
"""
