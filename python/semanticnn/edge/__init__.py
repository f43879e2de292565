"""The edge as a service over MQTT (docs/edge.md).

| module | what |
|---|---|
| `broker.py` | broker addresses; our own Mosquitto (tests, benchmarks, `semanticnn broker`) |
| `mqtt.py` | the topic scheme; paho clients with persistent sessions and QoS 1 |
| `service.py` | `semanticnn serve`: micro-batched BER-aware decoding, one answer a frame |
| `simulate.py` | `semanticnn devices simulate`: the load generator |
| `gateway.py` | `semanticnn receive --publish`: a board's UART frames into the broker |
"""
