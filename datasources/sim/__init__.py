"""The demo: simulated fleet on real Modbus TCP servers, demo city layers, demo history, camera streams."""
