// SPDX-License-Identifier: Apache-2.0

// Package otlpwire holds the pieces shared by the load generator and the sink to
// move OTLP trace export requests as raw protobuf bytes over gRPC: a pass-through
// codec and cheap walks over the wire format that count spans, read partial
// success and locate the IDs of every span.
package otlpwire // import "github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ExportMethod is the full gRPC method name of the OTLP trace export call.
const ExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// ServiceName is the gRPC service name of the OTLP trace service.
const ServiceName = "opentelemetry.proto.collector.trace.v1.TraceService"

// RawCodec is a gRPC codec named "proto" that passes []byte through unchanged.
// Marshal accepts []byte or *[]byte; Unmarshal fills a *[]byte (copying the data)
// or a *SpanCount (walking the data without keeping it).
type RawCodec struct{}

// SpanCount receives the number of spans of a request decoded by RawCodec.
type SpanCount struct {
	Spans int64
	Bytes int64
	// Keep asks Unmarshal to copy the request into Raw.
	Keep bool
	Raw  []byte
	// IDs asks Unmarshal to fill SpanIDs with the span_id of every span.
	IDs     bool
	SpanIDs []uint64
	// Probes asks Unmarshal to fill ProbeEnds with the end_time_unix_nano of
	// every latency probe span (trace_id starting with ProbeMarker).
	Probes    bool
	ProbeEnds []int64
}

// ProbeMarker starts the trace_id of every latency probe span: the sink finds
// probes by it without decoding the request.
var ProbeMarker = [8]byte{'L', 'A', 'T', 'P', 'R', 'O', 'B', 'E'}

// Name is the codec name; "proto" so that peers see ordinary protobuf content.
func (RawCodec) Name() string { return "proto" }

// Marshal returns the raw bytes.
func (RawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	default:
		return nil, fmt.Errorf("otlpwire: cannot marshal %T", v)
	}
}

// Unmarshal copies the data into a *[]byte or counts spans into a *SpanCount.
func (RawCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *[]byte:
		*m = append((*m)[:0], data...)
		return nil
	case *SpanCount:
		n, err := CountSpans(data)
		if err != nil {
			return err
		}
		m.Spans = n
		m.Bytes = int64(len(data))
		if m.IDs {
			if m.SpanIDs, err = SpanIDs(data, m.SpanIDs[:0]); err != nil {
				return err
			}
		}
		if m.Probes {
			if m.ProbeEnds, err = ProbeEnds(data, m.ProbeEnds[:0]); err != nil {
				return err
			}
		}
		if m.Keep {
			m.Raw = append([]byte(nil), data...)
		}
		return nil
	default:
		return fmt.Errorf("otlpwire: cannot unmarshal into %T", v)
	}
}

var errTruncated = errors.New("otlpwire: truncated protobuf")

// forEachField calls fn for every field of one protobuf message. For
// length-delimited fields val holds the payload and off its offset in b.
func forEachField(b []byte, fn func(num protowire.Number, typ protowire.Type, val []byte, off int) error) error {
	pos := 0
	for pos < len(b) {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return errTruncated
		}
		pos += n
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b[pos:])
			if m < 0 {
				return errTruncated
			}
			valOff := pos + m - len(v)
			if err := fn(num, typ, v, valOff); err != nil {
				return err
			}
			pos += m
		default:
			m := protowire.ConsumeFieldValue(num, typ, b[pos:])
			if m < 0 {
				return errTruncated
			}
			if err := fn(num, typ, b[pos:pos+m], pos); err != nil {
				return err
			}
			pos += m
		}
	}
	return nil
}

// CountSpans counts the spans in an encoded ExportTraceServiceRequest:
// request.resource_spans(1).scope_spans(2).spans(2).
func CountSpans(req []byte) (int64, error) {
	var total int64
	err := forEachField(req, func(num protowire.Number, typ protowire.Type, rs []byte, _ int) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return forEachField(rs, func(num protowire.Number, typ protowire.Type, ss []byte, _ int) error {
			if num != 2 || typ != protowire.BytesType {
				return nil
			}
			return forEachField(ss, func(num protowire.Number, typ protowire.Type, _ []byte, _ int) error {
				if num == 2 && typ == protowire.BytesType {
					total++
				}
				return nil
			})
		})
	})
	return total, err
}

// RejectedSpans reads partial_success(1).rejected_spans(1) from an encoded
// ExportTraceServiceResponse (0 when absent).
func RejectedSpans(resp []byte) (int64, error) {
	var rejected int64
	err := forEachField(resp, func(num protowire.Number, typ protowire.Type, ps []byte, _ int) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return forEachField(ps, func(num protowire.Number, typ protowire.Type, val []byte, _ int) error {
			if num == 1 && typ == protowire.VarintType {
				v, n := protowire.ConsumeVarint(val)
				if n < 0 {
					return errTruncated
				}
				rejected = int64(v)
			}
			return nil
		})
	})
	return rejected, err
}

// SpanIDOffsets locates the IDs of one span inside an encoded request: the
// offsets of the 16-byte trace_id (field 1), the 8-byte span_id (field 2) and
// the 8-byte parent_span_id (field 4, -1 when the span has none).
type SpanIDOffsets struct {
	Trace, Span, Parent int
}

// IDOffsets returns the ID offsets of every span of an encoded
// ExportTraceServiceRequest, so a sender can patch them in place to make every
// request unique.
func IDOffsets(req []byte) ([]SpanIDOffsets, error) {
	var out []SpanIDOffsets
	err := forEachField(req, func(num protowire.Number, typ protowire.Type, rs []byte, rsOff int) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return forEachField(rs, func(num protowire.Number, typ protowire.Type, ss []byte, ssOff int) error {
			if num != 2 || typ != protowire.BytesType {
				return nil
			}
			return forEachField(ss, func(num protowire.Number, typ protowire.Type, sp []byte, spOff int) error {
				if num != 2 || typ != protowire.BytesType {
					return nil
				}
				base := rsOff + ssOff + spOff
				o := SpanIDOffsets{Trace: -1, Span: -1, Parent: -1}
				err := forEachField(sp, func(num protowire.Number, typ protowire.Type, val []byte, off int) error {
					if typ != protowire.BytesType {
						return nil
					}
					switch {
					case num == 1 && len(val) == 16:
						o.Trace = base + off
					case num == 2 && len(val) == 8:
						o.Span = base + off
					case num == 4 && len(val) == 8:
						o.Parent = base + off
					}
					return nil
				})
				if err != nil {
					return err
				}
				if o.Trace < 0 || o.Span < 0 {
					return errors.New("otlpwire: span without 16-byte trace_id or 8-byte span_id")
				}
				out = append(out, o)
				return nil
			})
		})
	})
	return out, err
}

// SpanID reads the 8-byte span ID at off as a big-endian number, the form
// SpanIDs returns.
func SpanID(req []byte, off int) uint64 {
	return binary.BigEndian.Uint64(req[off : off+8])
}

// SpanIDs appends the span_id of every span of an encoded
// ExportTraceServiceRequest to dst (as big-endian numbers, see SpanID).
func SpanIDs(req []byte, dst []uint64) ([]uint64, error) {
	offs, err := IDOffsets(req)
	if err != nil {
		return dst, err
	}
	for _, o := range offs {
		dst = append(dst, SpanID(req, o.Span))
	}
	return dst, nil
}

// ProbeEnds appends to dst the end_time_unix_nano (field 8, fixed64) of every
// span of an encoded ExportTraceServiceRequest whose trace_id (field 1)
// starts with ProbeMarker.
func ProbeEnds(req []byte, dst []int64) ([]int64, error) {
	err := forEachField(req, func(num protowire.Number, typ protowire.Type, rs []byte, _ int) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return forEachField(rs, func(num protowire.Number, typ protowire.Type, ss []byte, _ int) error {
			if num != 2 || typ != protowire.BytesType {
				return nil
			}
			return forEachField(ss, func(num protowire.Number, typ protowire.Type, sp []byte, _ int) error {
				if num != 2 || typ != protowire.BytesType {
					return nil
				}
				probe, end := false, int64(0)
				err := forEachField(sp, func(num protowire.Number, typ protowire.Type, val []byte, _ int) error {
					switch {
					case num == 1 && typ == protowire.BytesType && len(val) == 16:
						probe = [8]byte(val[:8]) == ProbeMarker
					case num == 8 && typ == protowire.Fixed64Type:
						v, n := protowire.ConsumeFixed64(val)
						if n < 0 {
							return errTruncated
						}
						end = int64(v)
					}
					return nil
				})
				if err != nil {
					return err
				}
				if probe {
					dst = append(dst, end)
				}
				return nil
			})
		})
	})
	return dst, err
}
