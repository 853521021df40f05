package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The machine these numbers come from is shared, so every timed phase also
// accounts for CPU: how much the bench process, the server and everything
// else used. Throughput on two cores means little when something else took
// one of them, and the CPU each request cost stays meaningful either way.

// clkTck is USER_HZ, the unit of /proc/stat and /proc/PID/stat (100 on
// every Linux port Go supports).
const clkTck = 100

// cpuSnap is cumulative CPU seconds at one instant.
type cpuSnap struct {
	at     time.Time
	busy   float64 // all CPUs, non-idle
	self   float64 // this process
	server float64 // the gatehouse subprocesses given (0 when none)
	db     float64 // the PostgreSQL server's processes (0 without one on this machine)
}

// cpuUse is CPU used between two snapshots, in average cores.
type cpuUse struct {
	wall                           time.Duration
	self, server, db, others, busy float64
}

// dbCPU is the CPU of the PostgreSQL server the run uses, when it runs on
// this machine (see pgServer.cpu); nil otherwise.
var dbCPU func() float64

// takeCPU snapshots the machine, this process, the gatehouse subprocesses
// serverPIDs (summed) and the PostgreSQL server.
func takeCPU(serverPIDs ...int) cpuSnap {
	s := cpuSnap{at: time.Now(), busy: systemBusy(), self: procCPU(os.Getpid())}
	for _, pid := range serverPIDs {
		if pid > 0 {
			s.server += procCPU(pid)
		}
	}
	if dbCPU != nil {
		s.db = dbCPU()
	}
	return s
}

func (a cpuSnap) to(b cpuSnap) cpuUse {
	w := b.at.Sub(a.at)
	sec := w.Seconds()
	u := cpuUse{wall: w, busy: (b.busy - a.busy) / sec, self: (b.self - a.self) / sec,
		server: (b.server - a.server) / sec, db: (b.db - a.db) / sec}
	u.others = max(0, u.busy-u.self-u.server-u.db)
	return u
}

// systemBusy is the non-idle CPU seconds of all CPUs from /proc/stat.
func systemBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / clkTck
}

// procCPU is a process's user+system CPU seconds from /proc/PID/stat.
func procCPU(pid int) float64 {
	st, ok := procStat(pid)
	if !ok {
		return 0
	}
	return st.cpu
}

// procStatus is what the benchmark reads of /proc/PID/stat.
type procStatus struct {
	ppid int
	// cpu is user+system CPU seconds; children is that of its children
	// that have exited and been waited for (cutime+cstime).
	cpu, children float64
}

func procStat(pid int) (procStatus, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStatus{}, false
	}
	// The command name may contain spaces; fields resume after its ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return procStatus{}, false
	}
	n := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v / clkTck }
	ppid, _ := strconv.Atoi(f[1])                                                    // field 4 of the full line
	return procStatus{ppid: ppid, cpu: n(11) + n(12), children: n(13) + n(14)}, true // fields 14-17
}

// threadCPU is the calling OS thread's CPU time (getrusage RUSAGE_THREAD);
// lock the goroutine to its thread around the measured code.
func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// quiet is the CPU, in cores, other processes may use for a phase to start
// without waiting.
const quiet = 0.15

// waitQuiet waits, within what is left of the run's budget, until other
// processes use less than `quiet` cores over one second, and returns their
// last measured use. The budget keeps a permanently busy machine from
// stalling the run; the table then says how busy it was.
func (b *bench) waitQuiet(ctx context.Context, phase string, serverPIDs ...int) float64 {
	var others float64
	for {
		a := takeCPU(serverPIDs...)
		select {
		case <-ctx.Done():
			return others
		case <-time.After(time.Second):
		}
		u := a.to(takeCPU(serverPIDs...))
		others = u.others
		if others < quiet || b.quietBudget <= 0 {
			return others
		}
		b.quietBudget -= u.wall
		b.logf("%s: waiting for a quieter machine (other processes use %.2f of %d cores; %v of waiting left)",
			phase, others, runtime.NumCPU(), b.quietBudget.Round(time.Second))
	}
}

// othersNote describes the machine's other load during a phase.
func othersNote(u cpuUse) string {
	return fmt.Sprintf("%.2f of %d cores", u.others, runtime.NumCPU())
}
