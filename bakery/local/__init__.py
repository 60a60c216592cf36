"""The local AWS emulator: a moto server on 127.0.0.1, its corrections and its seed."""
