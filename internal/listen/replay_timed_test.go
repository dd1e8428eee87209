package listen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// TestReplayTimedSendsEveryFrame: a timed replay sends every frame of the
// capture, in order, byte for byte (VXLAN header + frame). Pacing flushes
// the queue between frames; the datagram being wrapped was once written
// where the queue had ended before that flush, and the queue sent stale
// bytes from its start instead: frames of the data connection went out
// as copies of the control connection's, and listen's verdicts differed
// from analyze's.
func TestReplayTimedSendsEveryFrame(t *testing.T) {
	path := capturePath(t, "policer/policer.srv.pcap")
	var frames [][]byte
	src, err := capture.OpenFiles([]string{path}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var f capture.Frame
	for {
		err := src.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), f.Data...))
	}
	src.Close()
	for _, noRaw := range []bool{false, true} {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadBuffer(16 << 20)
		got := make(chan []byte, len(frames)+10)
		go func() {
			buf := make([]byte, 65536)
			for {
				n, err := conn.Read(buf)
				if err != nil {
					close(got)
					return
				}
				got <- append([]byte(nil), buf[:n]...)
			}
		}()
		// Ten times the capture's speed: 0.3 s, with gaps that make
		// the pacing flush between frames.
		st := replayCfg(t, ReplayConfig{Files: []string{path}, To: conn.LocalAddr().String(), VNI: 9, Encap: "vxlan",
			Sources: 1, Decode: decode.DefaultConfig(), Speed: 10, NoRaw: noRaw})
		if st.Raw == noRaw && os.Geteuid() == 0 {
			t.Errorf("raw %v with NoRaw %v", st.Raw, noRaw)
		}
		time.Sleep(100 * time.Millisecond)
		conn.Close()
		i := 0
		for d := range got {
			if i < len(frames) && (len(d) < 8 || string(d[8:]) != string(frames[i])) {
				t.Fatalf("raw %v: datagram %d is not frame %d (%d bytes, frame %d)", st.Raw, i, i, len(d), len(frames[i]))
			}
			i++
		}
		if i != len(frames) {
			t.Errorf("raw %v: %d datagrams received, %d frames", st.Raw, i, len(frames))
		}
	}
}

// helperReplay is the "replay" role of TestE2EHelper: a timed replay
// (speed 1) of file to addr as VXLAN, from its own process as
// mirrorscope replay runs, printing the datagrams sent. In the test's
// process the sender would share the Go runtime with the listener: its
// pacing thread, however real-time, stops at every garbage collection
// until ordinary threads restart the world, which on a busy machine
// takes milliseconds.
func helperReplay(addr, file string) error {
	st, err := Replay(context.Background(), ReplayConfig{Files: []string{file}, To: addr, VNI: 4242,
		Encap: "vxlan", Sources: 8, Decode: decode.DefaultConfig(), Speed: 1, NoRealtime: os.Getenv("E2E_NO_REALTIME") != ""})
	if err != nil {
		return err
	}
	if st.Skipped != 0 {
		return fmt.Errorf("replay skipped %d frames", st.Skipped)
	}
	fmt.Printf("sent %d realtime %v late %d maxlate %d\n", st.Sent, st.Realtime, st.Late, st.MaxLate.Microseconds())
	return nil
}

// replayTiming is what a replay process sent and how faithfully it kept
// the capture's timing.
type replayTiming struct {
	sent      uint64 // datagrams sent
	realtime  bool   // paced from a real-time thread
	late      uint64 // frames queued more than LateAfter after their due time
	maxLateUS int64  // the latest, microseconds
}

// faithful: the target saw the capture's timing closely enough that its
// verdicts must be analyze's. A frame left a millisecond late shortens or
// stretches an RTT sample of these 10 ms paths by a tenth. With simulated
// hiccups (engine's TestVerdictSurvivesHeldBackFrames) the verdicts hold
// with 0.2-2 % of the frames held back by 2-5 ms on average, which moved
// up to 130 of the policer's 1990 frames by more than a millisecond;
// before the standing-queue test's base became the 5th percentile, 22
// moved frames could already change the policer's. Replay on a busy
// 2-core machine left 1-93 frames late, and listen agreed with analyze
// then too. At most 2 % late is faithful.
func (rt replayTiming) faithful() bool { return rt.realtime && rt.late*50 <= rt.sent }

// replayProcess runs helperReplay in a child process (the test binary
// re-executed) and returns what it sent and how well it kept the
// capture's timing.
func replayProcess(t *testing.T, addr, file string) replayTiming {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestE2EHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), e2eRoleEnv+"=replay", "E2E_ADDR="+addr, "E2E_FILE="+file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("replay process: %v: %s", err, out)
	}
	var rt replayTiming
	if _, err := fmt.Sscanf(string(out), "sent %d realtime %v late %d maxlate %d", &rt.sent, &rt.realtime, &rt.late, &rt.maxLateUS); err != nil {
		t.Fatalf("replay process printed %q: %v", out, err)
	}
	t.Logf("replay process: %d datagrams, paced from a real-time thread: %v, %d frames more than %v late (latest %d µs)",
		rt.sent, rt.realtime, rt.late, LateAfter, rt.maxLateUS)
	return rt
}
