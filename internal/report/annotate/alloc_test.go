package annotate

import (
	"io"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// TestOnPacketAllocs: taking a frame from the engine allocates nothing
// once its interface is known, flagged or not.
func TestOnPacketAllocs(t *testing.T) {
	w, err := New(io.Discard, Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := &flow.Flow{ID: 7}
	f.Dir[0].Packets = 3
	data := make([]byte, 128)
	ev := &result.PacketEvent{Frame: 1, TS: 1e9, Packet: &decode.Packet{}, Flow: f,
		TCP: &tcpseq.Result{Flags: tcpseq.Retransmission | tcpseq.FastRetransmission}, Data: data, OrigLen: 1514, Link: decode.LinkEthernet}
	plain := *ev
	plain.TCP = &tcpseq.Result{}
	w.OnPacket(ev)
	if n := testing.AllocsPerRun(1000, func() { w.OnPacket(ev); w.OnPacket(&plain) }); n != 0 {
		t.Errorf("%v allocations per frame pair", n)
	}
	st, err := w.Finish(nil)
	if err != nil || st.Frames != 2003 || st.Commented != 1002 {
		t.Errorf("stats %+v, %v", st, err)
	}
}
