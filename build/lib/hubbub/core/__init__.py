"""Pure rules over plain data: permissions, event validation and shaping, defaults. No I/O."""
