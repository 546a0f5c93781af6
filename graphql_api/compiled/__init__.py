"""Compiled list reads: plain list queries served by one SQL statement each.

`reads.CompiledReads` is the entry point that the HTTP view calls. The
other modules do one step each: `plan` compiles an operation's selections,
`statement` writes its SQL, `values` converts stored values and `drivers`
opens the read connections.
"""
