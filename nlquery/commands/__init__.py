"""The CLI's commands, one module per group; :mod:`nlquery.cli` assembles them."""
