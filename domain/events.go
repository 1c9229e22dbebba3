package domain

import (
	"encoding/json"
	"fmt"
)

// domainEvents is the catalogue of every event this package emits, with its current
// schema version. Names are stored data: never rename one; bump the version and add an
// upcaster instead.
var domainEvents = []eventType{
	{1, ProductCreated{}},
	{1, ProductDetailsUpdated{}},
	{1, ProductVariantAdded{}},
	{1, ProductVariantUpdated{}},
	{1, ProductPriceChanged{}},
	{1, ProductArchived{}},

	{1, CartCreated{}},
	{2, CartItemAdded{}},
	{1, CartItemQuantityChanged{}},
	{1, CartItemRemoved{}},
	{1, CartCouponApplied{}},
	{1, CartCouponRemoved{}},
	{1, CartShippingAddressSet{}},
	{1, CartPriced{}},
	{1, CartCheckedOut{}},

	{1, InventoryReceived{}},
	{1, InventoryAdjusted{}},
	{1, InventoryReserved{}},
	{1, InventoryReleased{}},
	{1, InventoryReservationExpired{}},
	{1, InventoryCommitted{}},
	{1, InventoryRestocked{}},

	{1, OrderPlaced{}},
	{1, OrderPaymentAuthorized{}},
	{1, OrderPaymentFailed{}},
	{1, OrderConfirmed{}},
	{1, OrderPaymentCaptured{}},
	{1, OrderPaymentVoided{}},
	{1, OrderShipped{}},
	{1, OrderDelivered{}},
	{1, OrderCancelled{}},
	{1, OrderRefunded{}},
	{1, PaymentPartCaptured{}},
	{1, PaymentAuthorizationReleased{}},
	{1, PaymentAuthorizationIncreased{}},
	{1, OrderFulfilled{}},
	{1, OrderFulfillmentCaptured{}},
	{1, OrderFulfillmentDelivered{}},
	{1, OrderLinesCancelled{}},
	{1, OrderAuthorizationReleased{}},
	{1, OrderReturnRequested{}},
	{1, OrderReturnApproved{}},
	{1, OrderReturnRejected{}},
	{1, OrderReturnReceived{}},
	{1, OrderRefundRequested{}},
	{1, OrderEditOpened{}},
	{1, OrderEditItemStaged{}},
	{1, OrderEditAddressStaged{}},
	{1, OrderEditCancelled{}},
	{1, OrderEditConfirmRequested{}},
	{1, OrderEditApplied{}},
	{1, OrderEditFailed{}},

	{1, PaymentAuthorizationRequested{}},
	{1, PaymentAuthorized{}},
	{1, PaymentDeclined{}},
	{1, PaymentFailed{}},
	{1, PaymentCaptured{}},
	{1, PaymentVoided{}},
	{1, PaymentRefunded{}},

	{1, PromotionCreated{}},
	{1, PromotionRedeemed{}},
	{1, PromotionRedemptionReleased{}},
	{1, PromotionDeactivated{}},

	{1, CustomerErased{}},
}

var domainUpcasters = []upcasterEntry{
	{"cart.item_added", 1, upcastCartItemAddedV1},
}

// upcastCartItemAddedV1 turns cart.item_added v1, which stored the price as
// {"unitPriceMinor":1299,"currency":"EUR"}, into v2's {"unitPrice":{"amount":1299,"currency":"EUR"}}.
func upcastCartItemAddedV1(data []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var price Money
	if err := json.Unmarshal(m["unitPriceMinor"], &price.Amount); err != nil {
		return nil, fmt.Errorf("unitPriceMinor: %w", err)
	}
	if err := json.Unmarshal(m["currency"], &price.Currency); err != nil {
		return nil, fmt.Errorf("currency: %w", err)
	}
	if err := price.Validate(); err != nil {
		return nil, err
	}
	delete(m, "unitPriceMinor")
	delete(m, "currency")
	b, err := json.Marshal(price)
	if err != nil {
		return nil, err
	}
	m["unitPrice"] = b
	return json.Marshal(m)
}
