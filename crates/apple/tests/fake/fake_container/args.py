"""A small swift-argument-parser: options with values, flags, positionals."""

from .output import usage_error

# Flags.Logging, accepted by every subcommand.
DEBUG = {"--debug": "debug"}


def parse(argv, options, flags, positional_rest=False):
    """`options` take a value (repeatable: a list), `flags` do not; both map each spelling to a
    name. With `positional_rest`, everything after the first positional is passed through.
    Returns (values, positionals)."""
    values, positionals = {}, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if positionals and positional_rest:
            positionals.extend(argv[i:])
            break
        if a.startswith("-") and a != "-":
            key, eq, inline = a.partition("=") if a.startswith("--") else (a, "", "")
            if key in flags:
                values[flags[key]] = True
            elif key in options:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        usage_error(f"Missing value for '{key} <value>'")
                    inline = argv[i]
                values.setdefault(options[key], []).append(inline)
            else:
                usage_error(f"Unknown option '{a}'")
        else:
            positionals.append(a)
        i += 1
    return values, positionals


def one(values, name, default=None):
    """The last value given for an option."""
    v = values.get(name)
    return v[-1] if v else default
