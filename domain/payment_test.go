package domain

import "testing"

var (
	payRequested  = PaymentAuthorizationRequested{PaymentID: "pay1", OrderID: "o1", Amount: eur(5292), Method: "tok_visa", At: t0}
	payAuthorized = PaymentAuthorized{PaymentID: "pay1", OrderID: "o1", GatewayRef: "auth_123", Amount: eur(5292), At: t0}
	payCaptured   = PaymentCaptured{PaymentID: "pay1", OrderID: "o1", Amount: eur(5292), At: t0}
)

func TestPaymentAuthorization(t *testing.T) {
	d := NewPaymentDecider()
	given(t, d).when(RequestAuthorization{PaymentID: "pay1", OrderID: "o1", Amount: eur(5292), Method: "tok_visa"}).then(payRequested)
	given(t, d).when(RequestAuthorization{PaymentID: "pay1", OrderID: "o1", Amount: eur(0), Method: "tok_visa"}).thenError(ErrValidation)
	given(t, d, payRequested).when(RequestAuthorization{PaymentID: "pay1", OrderID: "o1", Amount: eur(1), Method: "tok_visa"}).thenError(ErrAlreadyExists)

	given(t, d, payRequested).when(RecordAuthorization{PaymentID: "pay1", GatewayRef: "auth_123", Amount: eur(5292)}).then(payAuthorized)
	// amount or currency mismatch from the gateway is rejected
	given(t, d, payRequested).when(RecordAuthorization{PaymentID: "pay1", GatewayRef: "auth_123", Amount: eur(5291)}).thenError(ErrValidation)
	given(t, d, payRequested).when(RecordAuthorization{PaymentID: "pay1", GatewayRef: "auth_123", Amount: MustMoney(5292, "USD")}).thenError(ErrValidation)
	// a repeated webhook is a no-op; a conflicting one is not allowed
	given(t, d, payRequested, payAuthorized).when(RecordAuthorization{PaymentID: "pay1", GatewayRef: "auth_123", Amount: eur(5292)}).thenNothing()
	given(t, d, payRequested, payAuthorized).when(RecordDecline{PaymentID: "pay1", Reason: "late"}).thenError(ErrIllegalTransition)

	declined := PaymentDeclined{PaymentID: "pay1", OrderID: "o1", Reason: "insufficient funds", At: t0}
	given(t, d, payRequested).when(RecordDecline{PaymentID: "pay1", Reason: "insufficient funds"}).then(declined)
	given(t, d, payRequested, declined).when(RecordDecline{PaymentID: "pay1", Reason: "again"}).thenNothing()
	given(t, d, payRequested, declined).when(RecordAuthorization{PaymentID: "pay1", GatewayRef: "x", Amount: eur(5292)}).thenError(ErrIllegalTransition)
	given(t, d, payRequested).when(RecordFailure{PaymentID: "pay1", Reason: "timeout"}).
		then(PaymentFailed{PaymentID: "pay1", OrderID: "o1", Reason: "timeout", At: t0})
	given(t, d).when(RecordFailure{PaymentID: "pay9"}).thenError(ErrNotFound)
}

func TestPaymentCaptureVoidRefund(t *testing.T) {
	d := NewPaymentDecider()
	auth := []Event{payRequested, payAuthorized}
	given(t, d, auth...).when(CapturePayment{PaymentID: "pay1", Amount: eur(5292)}).then(payCaptured)
	given(t, d, auth...).when(CapturePayment{PaymentID: "pay1", Amount: eur(5293)}).thenError(ErrValidation)
	given(t, d, payRequested).when(CapturePayment{PaymentID: "pay1", Amount: eur(1)}).thenError(ErrIllegalTransition)
	given(t, d, append(auth, payCaptured)...).when(CapturePayment{PaymentID: "pay1", Amount: eur(5292)}).thenNothing()

	voided := PaymentVoided{PaymentID: "pay1", OrderID: "o1", Reason: "order cancelled", At: t0}
	given(t, d, auth...).when(VoidPayment{PaymentID: "pay1", Reason: "order cancelled"}).then(voided)
	given(t, d, append(auth, voided)...).when(VoidPayment{PaymentID: "pay1"}).thenNothing()
	given(t, d, append(auth, payCaptured)...).when(VoidPayment{PaymentID: "pay1"}).thenError(ErrIllegalTransition)
	given(t, d, append(auth, voided)...).when(CapturePayment{PaymentID: "pay1", Amount: eur(5292)}).thenError(ErrIllegalTransition)

	captured := append(auth, payCaptured)
	r1 := PaymentRefunded{PaymentID: "pay1", OrderID: "o1", RefundID: "r1", Amount: eur(2000), At: t0}
	given(t, d, captured...).when(RefundPayment{PaymentID: "pay1", RefundID: "r1", Amount: eur(2000)}).then(r1).
		thenState(func(t *testing.T, p Payment) {
			if p.State != PaymentStatePartiallyRefunded || p.Refundable() != eur(3292) {
				t.Fatalf("%s %v", p.State, p.Refundable())
			}
		})
	given(t, d, append(captured, r1)...).when(RefundPayment{PaymentID: "pay1", RefundID: "r1", Amount: eur(2000)}).thenNothing()
	given(t, d, append(captured, r1)...).when(RefundPayment{PaymentID: "pay1", RefundID: "r2", Amount: eur(3293)}).thenError(ErrValidation)
	given(t, d, append(captured, r1)...).when(RefundPayment{PaymentID: "pay1", RefundID: "r2", Amount: eur(3292)}).
		thenState(func(t *testing.T, p Payment) {
			if p.State != PaymentStateRefunded {
				t.Fatalf("%s", p.State)
			}
		})
	given(t, d, auth...).when(RefundPayment{PaymentID: "pay1", RefundID: "r1", Amount: eur(1)}).thenError(ErrIllegalTransition)
}
