"""The Gateway API conformance corpus, generated from the pinned conformance module.

``corpus.json`` (and the YAML under ``manifests/``) is what the Gateway API conformance suite at
the pinned version asserts about route attachment, listener status, ListenerSets and request
routing, extracted by ``generate/main.go`` (``go/ast``) and :mod:`tests.conformance.build`.
``tests/unit/test_conformance.py`` grades the engine against it; ``python -m tests.conformance
generate`` rebuilds it (see ``__main__``).
"""
