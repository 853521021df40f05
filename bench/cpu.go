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
	server float64 // the gatehouse subprocess (0 when none)
}

// cpuUse is CPU used between two snapshots, in average cores.
type cpuUse struct {
	wall                       time.Duration
	self, server, others, busy float64
}

func takeCPU(serverPID int) cpuSnap {
	s := cpuSnap{at: time.Now(), busy: systemBusy(), self: procCPU(os.Getpid())}
	if serverPID > 0 {
		s.server = procCPU(serverPID)
	}
	return s
}

func (a cpuSnap) to(b cpuSnap) cpuUse {
	w := b.at.Sub(a.at)
	sec := w.Seconds()
	u := cpuUse{wall: w, busy: (b.busy - a.busy) / sec, self: (b.self - a.self) / sec, server: (b.server - a.server) / sec}
	u.others = max(0, u.busy-u.self-u.server)
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may contain spaces; fields resume after its ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14 of the full line
	st, _ := strconv.ParseFloat(f[12], 64) // field 15
	return (ut + st) / clkTck
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
func (b *bench) waitQuiet(ctx context.Context, serverPID int, phase string) float64 {
	var others float64
	for {
		a := takeCPU(serverPID)
		select {
		case <-ctx.Done():
			return others
		case <-time.After(time.Second):
		}
		u := a.to(takeCPU(serverPID))
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
