package writeapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/commands"
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

type productResult = commands.Result[domain.Product]

var productOK = reply[domain.Product]{status: http.StatusOK}

func (a *API) createProduct() http.HandlerFunc {
	return command(a, reply[domain.Product]{status: http.StatusCreated, location: func(p domain.Product) string { return "/v1/products/" + p.ID }},
		func(r *http.Request, b *createProductBody, m commands.Meta) (productResult, error) {
			vs := make([]domain.Variant, len(b.Variants))
			for i, v := range b.Variants {
				vs[i] = v.domain()
			}
			return a.svc.CreateProduct(r.Context(), domain.CreateProduct{
				ProductID: b.ID, SKU: b.SKU, Price: b.Price, Variants: vs,
				ProductDetails: domain.ProductDetails{Name: b.Name, Description: b.Description, Category: b.Category,
					Brand: b.Brand, Images: b.Images, Metadata: b.Metadata},
			}, m)
		})
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

func (a *API) updateProduct() http.HandlerFunc {
	return command(a, productOK, func(r *http.Request, b *updateProductBody, m commands.Meta) (productResult, error) {
		if b.Name == nil && b.Description == nil && b.Category == nil && b.Brand == nil && b.Images == nil && b.Metadata == nil && b.Price == nil {
			return productResult{}, badRequest("nothing to change: send at least one of name, description, category, brand, images, metadata, price")
		}
		id := chi.URLParam(r, "id")
		res, err := a.svc.UpdateProductDetails(r.Context(), domain.UpdateProductDetails{
			ProductID: id, Name: b.Name, Description: b.Description, Category: b.Category,
			Brand: b.Brand, Images: b.Images, Metadata: b.Metadata,
		}, m)
		if err == nil && b.Price != nil {
			m.IfMatch = nil // the details update above already checked it
			res, err = a.svc.ChangePrice(r.Context(), domain.ChangePrice{ProductID: id, SKU: res.State.SKU, Price: *b.Price}, m)
		}
		return res, err
	})
}

func (a *API) addVariant() http.HandlerFunc {
	return command(a, reply[domain.Product]{status: http.StatusCreated}, func(r *http.Request, b *variantBody, m commands.Meta) (productResult, error) {
		return a.svc.AddVariant(r.Context(), domain.AddVariant{ProductID: chi.URLParam(r, "id"), Variant: b.domain()}, m)
	})
}

type updateVariantBody struct {
	Attributes map[string]string `json:"attributes,omitempty"`
	Price      *domain.Money     `json:"price,omitempty"`
}

func (a *API) updateVariant() http.HandlerFunc {
	return command(a, productOK, func(r *http.Request, b *updateVariantBody, m commands.Meta) (productResult, error) {
		return a.svc.UpdateVariant(r.Context(), domain.UpdateVariant{ProductID: chi.URLParam(r, "id"), SKU: chi.URLParam(r, "sku"),
			Attributes: b.Attributes, Price: b.Price}, m)
	})
}

type archiveBody struct {
	Reason string `json:"reason,omitempty"`
}

func (a *API) archiveProduct() http.HandlerFunc {
	return command(a, productOK, func(r *http.Request, b *archiveBody, m commands.Meta) (productResult, error) {
		return a.svc.ArchiveProduct(r.Context(), domain.ArchiveProduct{ProductID: chi.URLParam(r, "id"), Reason: b.Reason}, m)
	})
}

type receiptBody struct {
	Warehouse string `json:"warehouse"`
	Quantity  int64  `json:"quantity"`
	Reference string `json:"reference,omitempty"`
}

type inventoryResult = commands.Result[domain.Inventory]

var stockCreated = reply[domain.Inventory]{status: http.StatusCreated, view: stockView}

func (a *API) receiveStock() http.HandlerFunc {
	return command(a, stockCreated, func(r *http.Request, b *receiptBody, m commands.Meta) (inventoryResult, error) {
		return a.svc.ReceiveStock(r.Context(), domain.ReceiveStock{SKU: chi.URLParam(r, "sku"), Warehouse: b.Warehouse, Quantity: b.Quantity, Reference: b.Reference}, m)
	})
}

type adjustmentBody struct {
	Warehouse string `json:"warehouse"`
	Delta     int64  `json:"delta"`
	Reason    string `json:"reason"`
}

func (a *API) adjustStock() http.HandlerFunc {
	return command(a, stockCreated, func(r *http.Request, b *adjustmentBody, m commands.Meta) (inventoryResult, error) {
		return a.svc.AdjustStock(r.Context(), domain.AdjustStock{SKU: chi.URLParam(r, "sku"), Warehouse: b.Warehouse, Delta: b.Delta, Reason: b.Reason}, m)
	})
}

// inventoryView is the stock of a SKU as the API shows it.
func stockView(s domain.Inventory) any {
	t := s.Totals()
	return inventoryView{SKU: s.SKU, OnHand: t.OnHand, Reserved: t.Reserved, Available: t.Available(), Warehouses: s.Warehouses}
}

type promotionBody struct {
	Code        string             `json:"code"`
	Kind        domain.CouponKind  `json:"kind"`
	PercentOff  domain.BasisPoints `json:"percentOff,omitempty"`
	AmountOff   domain.Money       `json:"amountOff,omitzero"`
	MinSubtotal domain.Money       `json:"minSubtotal,omitzero"`
	StartsAt    *time.Time         `json:"startsAt,omitempty"`
	EndsAt      *time.Time         `json:"endsAt,omitempty"`
	UsageLimit  int64              `json:"usageLimit,omitempty"`
}

func (a *API) createPromotion() http.HandlerFunc {
	return command(a, reply[domain.Promotion]{status: http.StatusCreated, location: func(p domain.Promotion) string { return "/v1/promotions/" + p.Coupon.Code }},
		func(r *http.Request, b *promotionBody, m commands.Meta) (commands.Result[domain.Promotion], error) {
			c := domain.Coupon{Code: b.Code, Kind: b.Kind, PercentOff: b.PercentOff, AmountOff: b.AmountOff, MinSubtotal: b.MinSubtotal}
			if b.StartsAt != nil {
				c.StartsAt = *b.StartsAt
			}
			if b.EndsAt != nil {
				c.EndsAt = *b.EndsAt
			}
			return a.svc.CreatePromotion(r.Context(), domain.CreatePromotion{Coupon: c, UsageLimit: b.UsageLimit}, m)
		})
}
