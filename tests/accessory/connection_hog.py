# An attacker for hardening_test.ts (run as an unprivileged uid): opens COUNT
# connections to the accessory daemon and sends nothing. For every line on
# stdin it prints {"open": N}, the connections the daemon has not closed.
# Python: an outside oracle with plain BSD sockets.
import json
import socket
import sys

address, count = sys.argv[1], int(sys.argv[2])
connections = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("\0" + address[1:])
    connections.append(s)


def still_open(s):
    try:
        return s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False  # ECONNRESET


print(json.dumps({"connected": count}), flush=True)
for _ in sys.stdin:
    print(json.dumps({"open": sum(still_open(s) for s in connections)}), flush=True)
