# Website footer promotion (placement web.footer_promo). Japanese.

web-footer-promo-title = Northwindニュースレターに登録
web-footer-promo-body = トレイルガイド、新作情報、そして初回注文10%オフをお届けします。
web-footer-promo-cta-label = 登録する

web-footer-promo-weekend-title = 週末はアウトドアの予定ですか？
web-footer-promo-weekend-body = 無料のアウトドアガイドで、トレイルマップや持ち物チェックリストをチェック。
web-footer-promo-weekend-cta-label = ガイドを読む

## In review: gift cards before Christmas
web-footer-promo-gift-title = ギフト選びがまだの方へ
web-footer-promo-gift-body = Northwind eギフトカードは1,000円から。メールですぐにお届けします。
web-footer-promo-gift-cta-label = ギフトカードを購入
