package writeapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
)

// createCartBody has no id: cart ids are the server's (a client-chosen id would let one
// customer take or probe another's).
type createCartBody struct {
	Currency string `json:"currency"`
	// CustomerID is for admins creating a cart on a customer's behalf; a customer's cart is
	// always their own.
	CustomerID string `json:"customerId,omitempty"`
}

type addItemBody struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

type quantityBody struct {
	Quantity int64 `json:"quantity"`
}

type couponBody struct {
	Code string `json:"code"`
}

type cartResult = commands.Result[domain.Cart]

var cartOK = reply[domain.Cart]{status: http.StatusOK}

func (a *API) createCart() http.HandlerFunc {
	return command(a, reply[domain.Cart]{status: http.StatusCreated, location: func(c domain.Cart) string { return "/v1/carts/" + c.ID }},
		func(r *http.Request, b *createCartBody, m commands.Meta) (cartResult, error) {
			return a.svc.CreateCart(r.Context(), domain.CreateCart{CustomerID: b.CustomerID, Currency: b.Currency}, m)
		})
}

func (a *API) getCart(w http.ResponseWriter, r *http.Request) {
	meta, err := a.meta(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	l, err := a.svc.Cart(r.Context(), chi.URLParam(r, "id"), meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tag := etag(l.Version)
	w.Header().Set("ETag", tag)
	if match := r.Header.Get("If-None-Match"); match != "" && match == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeResult(w, http.StatusOK, l.Version, l.Position, l.State)
}

func (a *API) addCartItem() http.HandlerFunc {
	return command(a, cartOK, func(r *http.Request, b *addItemBody, m commands.Meta) (cartResult, error) {
		return a.svc.AddCartItem(r.Context(), chi.URLParam(r, "id"), b.SKU, b.Quantity, m)
	})
}

func (a *API) changeCartItem() http.HandlerFunc {
	return command(a, cartOK, func(r *http.Request, b *quantityBody, m commands.Meta) (cartResult, error) {
		return a.svc.ChangeCartItemQuantity(r.Context(), chi.URLParam(r, "id"), chi.URLParam(r, "sku"), b.Quantity, m)
	})
}

func (a *API) removeCartItem() http.HandlerFunc {
	return command(a, cartOK, func(r *http.Request, _ *noBody, m commands.Meta) (cartResult, error) {
		return a.svc.RemoveCartItem(r.Context(), chi.URLParam(r, "id"), chi.URLParam(r, "sku"), m)
	})
}

func (a *API) applyCoupon() http.HandlerFunc {
	return command(a, cartOK, func(r *http.Request, b *couponBody, m commands.Meta) (cartResult, error) {
		return a.svc.ApplyCoupon(r.Context(), chi.URLParam(r, "id"), b.Code, m)
	})
}

func (a *API) removeCoupon() http.HandlerFunc {
	return command(a, cartOK, func(r *http.Request, _ *noBody, m commands.Meta) (cartResult, error) {
		return a.svc.RemoveCoupon(r.Context(), chi.URLParam(r, "id"), chi.URLParam(r, "code"), m)
	})
}

func (a *API) setShippingAddress() http.HandlerFunc {
	return command(a, cartOK, func(r *http.Request, b *domain.Address, m commands.Meta) (cartResult, error) {
		return a.svc.SetShippingAddress(r.Context(), chi.URLParam(r, "id"), *b, m)
	})
}
