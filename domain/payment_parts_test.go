package domain

import "testing"

func TestPaymentPartsCaptureReleaseRefund(t *testing.T) {
	d := NewPaymentDecider()
	auth := []Event{payRequested, payAuthorized}
	cap1 := PaymentPartCaptured{PaymentID: "pay1", OrderID: "o1", CaptureID: "f1", Amount: eur(2000), At: t0}
	given(t, d, auth...).when(CapturePaymentPart{PaymentID: "pay1", CaptureID: "f1", Amount: eur(2000)}).then(cap1)
	given(t, d, append(auth, cap1)...).when(CapturePaymentPart{PaymentID: "pay1", CaptureID: "f1", Amount: eur(2000)}).thenNothing()
	rel := PaymentAuthorizationReleased{PaymentID: "pay1", OrderID: "o1", ReleaseID: "x1", Amount: eur(3000), At: t0}
	given(t, d, append(auth, cap1)...).when(ReleaseAuthorizationPart{PaymentID: "pay1", ReleaseID: "x1", Amount: eur(3000)}).then(rel)
	// captured + released never exceed the authorization
	given(t, d, append(auth, cap1, rel)...).when(CapturePaymentPart{PaymentID: "pay1", CaptureID: "f2", Amount: eur(293)}).thenError(ErrValidation)
	cap2 := PaymentPartCaptured{PaymentID: "pay1", OrderID: "o1", CaptureID: "f2", Amount: eur(292), At: t0}
	given(t, d, append(auth, cap1, rel)...).when(CapturePaymentPart{PaymentID: "pay1", CaptureID: "f2", Amount: eur(292)}).then(cap2).
		thenState(func(t *testing.T, p Payment) {
			if p.Captured.Amount != 2292 || p.Released.Amount != 3000 || !p.Uncommitted().IsZero() || p.State != PaymentStateCaptured {
				t.Fatalf("after two captures and a release: %+v", p)
			}
		})
	// a refund in between, then another capture: refunds stay within what was captured
	ref := PaymentRefunded{PaymentID: "pay1", OrderID: "o1", RefundID: "rf1", Amount: eur(2000), At: t0}
	given(t, d, append(auth, cap1, ref)...).when(RefundPayment{PaymentID: "pay1", RefundID: "rf2", Amount: eur(1)}).thenError(ErrIllegalTransition)
	given(t, d, append(auth, cap1, ref)...).when(CapturePaymentPart{PaymentID: "pay1", CaptureID: "f2", Amount: eur(100)}).
		then(PaymentPartCaptured{PaymentID: "pay1", OrderID: "o1", CaptureID: "f2", Amount: eur(100), At: t0}).
		thenState(func(t *testing.T, p Payment) {
			if p.State != PaymentStatePartiallyRefunded || p.Refundable().Amount != 100 {
				t.Fatalf("after capture following a refund: %+v", p)
			}
		})
	given(t, d, payRequested).when(CapturePaymentPart{PaymentID: "pay1", CaptureID: "f1", Amount: eur(1)}).thenError(ErrIllegalTransition)
	given(t, d, append(auth, PaymentVoided{PaymentID: "pay1", OrderID: "o1", At: t0})...).when(ReleaseAuthorizationPart{PaymentID: "pay1", ReleaseID: "x", Amount: eur(1)}).thenError(ErrIllegalTransition)
}
