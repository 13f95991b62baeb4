"""API keys at rest: the OS keyring, or a Fernet-encrypted file where there is none.

    store.py     KeyStore: FileKeyStore (Fernet, 0600, LLMDECK_SECRET or a generated
                 key file) and KeyringStore (the keyring package); open_key_store()
    lookup.py    the light hook the deck's ${VAR} substitution uses (environment, then
                 .env, then the key store); imports nothing heavy until a store exists
    sources.py   where each variable is found, for `llmdeck keys list`
    magic.py     %llm_key set NAME: a password widget, the value never in the notebook

Values are never printed, logged or returned by a listing; names are not secret.
"""
