"""Modbus: device profiles (register maps as data), the codec, the poller, remote control."""
