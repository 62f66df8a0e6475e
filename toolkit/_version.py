"""The toolkit's version, in one place (the distribution is ``therapy-breakthroughs``)."""

__version__ = "0.2.0"
