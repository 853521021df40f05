package main

import (
	"net"
	"os"
	"strings"
)

// sdNotify tells systemd of a state change (sd_notify(3): READY=1,
// RELOADING=1, STOPPING=1) through the datagram socket NOTIFY_SOCKET
// names, for a unit of Type=notify; without one (not started by systemd)
// it does nothing. A failure to tell is not gatehouse's failure: it is
// dropped, as libsystemd's sd_notify would report it to a caller that
// ignores it.
func sdNotify(socket, state string) {
	if socket == "" {
		return
	}
	if strings.HasPrefix(socket, "@") {
		socket = "\x00" + socket[1:] // the abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(state))
}

// notifier is sdNotify bound to this process's NOTIFY_SOCKET.
func notifier() func(string) {
	socket := os.Getenv("NOTIFY_SOCKET")
	return func(state string) { sdNotify(socket, state) }
}
