package writeapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/domain"
)

type createCartBody struct {
	ID       string `json:"id,omitempty"`
	Currency string `json:"currency"`
	// CustomerID is for admins creating a cart on a customer's behalf; a customer's cart is
	// always their own.
	CustomerID string `json:"customerId,omitempty"`
}

func (a *API) createCart(w http.ResponseWriter, r *http.Request) {
	var b createCartBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.CreateCart(r.Context(), domain.CreateCart{CartID: b.ID, CustomerID: b.CustomerID, Currency: b.Currency}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/carts/"+res.State.ID)
	writeResult(w, http.StatusCreated, res.Version, res.Position, res.State)
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

type addItemBody struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

func (a *API) addCartItem(w http.ResponseWriter, r *http.Request) {
	var b addItemBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.AddCartItem(r.Context(), chi.URLParam(r, "id"), b.SKU, b.Quantity, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

type quantityBody struct {
	Quantity int64 `json:"quantity"`
}

func (a *API) changeCartItem(w http.ResponseWriter, r *http.Request) {
	var b quantityBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.ChangeCartItemQuantity(r.Context(), chi.URLParam(r, "id"), chi.URLParam(r, "sku"), b.Quantity, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

func (a *API) removeCartItem(w http.ResponseWriter, r *http.Request) {
	meta, err := a.meta(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.RemoveCartItem(r.Context(), chi.URLParam(r, "id"), chi.URLParam(r, "sku"), meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

type couponBody struct {
	Code string `json:"code"`
}

func (a *API) applyCoupon(w http.ResponseWriter, r *http.Request) {
	var b couponBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.ApplyCoupon(r.Context(), chi.URLParam(r, "id"), b.Code, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

func (a *API) removeCoupon(w http.ResponseWriter, r *http.Request) {
	meta, err := a.meta(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.RemoveCoupon(r.Context(), chi.URLParam(r, "id"), chi.URLParam(r, "code"), meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

func (a *API) setShippingAddress(w http.ResponseWriter, r *http.Request) {
	var b domain.Address
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.SetShippingAddress(r.Context(), chi.URLParam(r, "id"), b, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}
