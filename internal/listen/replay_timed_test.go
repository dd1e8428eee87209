package listen

import (
	"errors"
	"io"
	"net"
	"os"
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
