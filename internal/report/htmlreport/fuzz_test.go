package htmlreport

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// FuzzCollector feeds arbitrary packet fields and timestamps (backwards,
// huge jumps, wrapping sequence numbers, many flows) and checks the
// bounds hold and the output is valid JSON.
func FuzzCollector(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31})
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\x7f\x00\x00\x00\x00\x00\x00\x00\x80 policer sawtooth \x01\x02"))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, data []byte) {
	{
		c := NewCollector(CollectorConfig{MaxFlows: 2, Candidates: 3, MaxPoints: 64})
		flows := map[uint64]*flow.Flow{}
		var p decode.Packet
		var r tcpseq.Result
		for len(data) >= 32 {
			b := data[:32]
			data = data[32:]
			id := uint64(b[0] % 5)
			fl := flows[id]
			if fl == nil {
				fl = &flow.Flow{ID: id, First: int64(binary.LittleEndian.Uint64(b[1:9]))}
				flows[id] = fl
			}
			fl.Last = int64(binary.LittleEndian.Uint64(b[9:17]))
			d := flow.Dir(b[17] & 1)
			fl.Dir[d].Bytes += uint64(b[18])
			p.FrameLen = uint32(b[19]) * 8
			p.PayloadLen = uint32(b[20]) * 8
			p.TCP.Flags = b[21]
			p.TCP.Seq = binary.LittleEndian.Uint32(b[22:26])
			p.TCP.Ack = binary.LittleEndian.Uint32(b[24:28])
			p.TCP.HasTS = b[28]&1 != 0
			p.TCP.TSVal, p.TCP.TSEcr = uint32(b[29]), uint32(b[30])
			r = tcpseq.Result{Flags: tcpseq.Flag(b[31]) << (b[28] >> 4), RelSeq: binary.LittleEndian.Uint32(b[25:29]),
				AckRTT: int64(int8(b[30])) * 1e5, HasAckRTT: b[31]&2 != 0, BytesInFlight: int64(int8(b[29])) * 100, Window: uint32(b[27]) << 8}
			c.OnPacket(&result.PacketEvent{TS: fl.Last, Packet: &p, Flow: fl, Dir: d, TCP: &r})
		}
		cd := c.Data()
		if len(cd.Flows) > 2 || len(c.flows) > 3 {
			t.Fatalf("%d flows charted, %d tracked", len(cd.Flows), len(c.flows))
		}
		for _, fs := range cd.Flows {
			for _, xy := range []XY{fs.Seg, fs.Retx, fs.OOO, fs.Lost, fs.Ack, fs.Flight, fs.RTTAck, fs.RTTEcho} {
				if len(xy.T) > 64+2 || len(xy.T) != len(xy.Y) {
					t.Fatalf("series of %d points (%d values), cap 64", len(xy.T), len(xy.Y))
				}
			}
			if len(fs.C2S) > 64 {
				t.Fatalf("%d bins, cap 64", len(fs.C2S))
			}
		}
		if _, err := json.Marshal(cd); err != nil {
			t.Fatal(err)
		}
	}
}
