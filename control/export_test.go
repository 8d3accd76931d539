package control

import "time"

// SetAuditClock makes h's audit log read time from now.
func SetAuditClock(h *Handler, now func() time.Time) { h.audit.now = now }

// AuditPerSecond is how many refusals are logged in one second.
const AuditPerSecond = auditPerSecond

// ArrivedThrough is the rule telling whether a connection at local came
// through a gate at gate.
var ArrivedThrough = arrivedThrough
