"""focal: a command-line streaming speech codec built on FocalCodec-Stream.

Layers, imports in one direction only:
``model`` (tensors) -> ``engine`` (streaming state, chunks) -> ``container`` (.fcs bytes, no torch)
-> ``cli`` (thin Typer commands).
"""

__version__ = "0.1.0"
