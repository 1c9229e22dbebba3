package writeapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/domain"
)

type variantBody struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Price      domain.Money      `json:"price"`
}

func (v variantBody) domain() domain.Variant {
	return domain.Variant{SKU: v.SKU, Attributes: v.Attributes, Price: v.Price}
}

type createProductBody struct {
	ID          string            `json:"id,omitempty"`
	SKU         string            `json:"sku"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Category    string            `json:"category,omitempty"`
	Brand       string            `json:"brand,omitempty"`
	Images      []string          `json:"images,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Price       domain.Money      `json:"price"`
	Variants    []variantBody     `json:"variants,omitempty"`
}

func (a *API) createProduct(w http.ResponseWriter, r *http.Request) {
	var b createProductBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	vs := make([]domain.Variant, len(b.Variants))
	for i, v := range b.Variants {
		vs[i] = v.domain()
	}
	res, err := a.svc.CreateProduct(r.Context(), domain.CreateProduct{
		ProductID: b.ID, SKU: b.SKU, Price: b.Price, Variants: vs,
		ProductDetails: domain.ProductDetails{Name: b.Name, Description: b.Description, Category: b.Category,
			Brand: b.Brand, Images: b.Images, Metadata: b.Metadata},
	}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/products/"+res.State.ID)
	writeResult(w, http.StatusCreated, res.Version, res.Position, res.State)
}

type updateProductBody struct {
	Name        *string            `json:"name,omitempty"`
	Description *string            `json:"description,omitempty"`
	Category    *string            `json:"category,omitempty"`
	Brand       *string            `json:"brand,omitempty"`
	Images      *[]string          `json:"images,omitempty"`
	Metadata    *map[string]string `json:"metadata,omitempty"`
	// Price changes the base price (the product's own SKU).
	Price *domain.Money `json:"price,omitempty"`
}

func (a *API) updateProduct(w http.ResponseWriter, r *http.Request) {
	var b updateProductBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	if b.Name == nil && b.Description == nil && b.Category == nil && b.Brand == nil && b.Images == nil && b.Metadata == nil && b.Price == nil {
		a.fail(w, r, badRequest("nothing to change: send at least one of name, description, category, brand, images, metadata, price"))
		return
	}
	res, err := a.svc.UpdateProductDetails(r.Context(), domain.UpdateProductDetails{
		ProductID: id, Name: b.Name, Description: b.Description, Category: b.Category,
		Brand: b.Brand, Images: b.Images, Metadata: b.Metadata,
	}, meta)
	if err == nil && b.Price != nil {
		meta.IfMatch = nil // the details update above already checked it
		res, err = a.svc.ChangePrice(r.Context(), domain.ChangePrice{ProductID: id, SKU: res.State.SKU, Price: *b.Price}, meta)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

func (a *API) addVariant(w http.ResponseWriter, r *http.Request) {
	var b variantBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.AddVariant(r.Context(), domain.AddVariant{ProductID: chi.URLParam(r, "id"), Variant: b.domain()}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusCreated, res.Version, res.Position, res.State)
}

type updateVariantBody struct {
	Attributes map[string]string `json:"attributes,omitempty"`
	Price      *domain.Money     `json:"price,omitempty"`
}

func (a *API) updateVariant(w http.ResponseWriter, r *http.Request) {
	var b updateVariantBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.UpdateVariant(r.Context(), domain.UpdateVariant{ProductID: chi.URLParam(r, "id"), SKU: chi.URLParam(r, "sku"),
		Attributes: b.Attributes, Price: b.Price}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

type archiveBody struct {
	Reason string `json:"reason"`
}

func (a *API) archiveProduct(w http.ResponseWriter, r *http.Request) {
	var b archiveBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.ArchiveProduct(r.Context(), domain.ArchiveProduct{ProductID: chi.URLParam(r, "id"), Reason: b.Reason}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusOK, res.Version, res.Position, res.State)
}

type receiptBody struct {
	Warehouse string `json:"warehouse"`
	Quantity  int64  `json:"quantity"`
	Reference string `json:"reference,omitempty"`
}

func (a *API) receiveStock(w http.ResponseWriter, r *http.Request) {
	var b receiptBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.ReceiveStock(r.Context(), domain.ReceiveStock{SKU: chi.URLParam(r, "sku"), Warehouse: b.Warehouse, Quantity: b.Quantity, Reference: b.Reference}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusCreated, res.Version, res.Position, inventoryView(res.State))
}

type adjustmentBody struct {
	Warehouse string `json:"warehouse"`
	Delta     int64  `json:"delta"`
	Reason    string `json:"reason"`
}

func (a *API) adjustStock(w http.ResponseWriter, r *http.Request) {
	var b adjustmentBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.AdjustStock(r.Context(), domain.AdjustStock{SKU: chi.URLParam(r, "sku"), Warehouse: b.Warehouse, Delta: b.Delta, Reason: b.Reason}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeResult(w, http.StatusCreated, res.Version, res.Position, inventoryView(res.State))
}

// inventoryView is the stock of a SKU as the API shows it.
func inventoryView(s domain.Inventory) map[string]any {
	t := s.Totals()
	return map[string]any{
		"sku": s.SKU, "onHand": t.OnHand, "reserved": t.Reserved, "available": t.Available(),
		"warehouses": s.Warehouses,
	}
}

type promotionBody struct {
	Code        string             `json:"code"`
	Kind        domain.CouponKind  `json:"kind"`
	PercentOff  domain.BasisPoints `json:"percentOff,omitempty"`
	AmountOff   domain.Money       `json:"amountOff"`
	MinSubtotal domain.Money       `json:"minSubtotal"`
	StartsAt    *time.Time         `json:"startsAt,omitempty"`
	EndsAt      *time.Time         `json:"endsAt,omitempty"`
	UsageLimit  int64              `json:"usageLimit,omitempty"`
}

func (a *API) createPromotion(w http.ResponseWriter, r *http.Request) {
	var b promotionBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c := domain.Coupon{Code: b.Code, Kind: b.Kind, PercentOff: b.PercentOff, AmountOff: b.AmountOff, MinSubtotal: b.MinSubtotal}
	if b.StartsAt != nil {
		c.StartsAt = *b.StartsAt
	}
	if b.EndsAt != nil {
		c.EndsAt = *b.EndsAt
	}
	res, err := a.svc.CreatePromotion(r.Context(), domain.CreatePromotion{Coupon: c, UsageLimit: b.UsageLimit}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/promotions/"+res.State.Coupon.Code)
	writeResult(w, http.StatusCreated, res.Version, res.Position, res.State)
}
