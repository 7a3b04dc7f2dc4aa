package route

import "github.com/prometheus/common/model"

type (
	modelLabelSet   = model.LabelSet
	modelLabelName  = model.LabelName
	modelLabelValue = model.LabelValue
)
